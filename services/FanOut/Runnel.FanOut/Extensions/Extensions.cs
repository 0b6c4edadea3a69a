using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Runnel.FanOut.Apis;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.Subscriptions;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ShardStore.Client;

namespace Runnel.FanOut;

/// <summary>Enhanced fan-out: pushes shard records to registered consumers over HTTP/2.</summary>
public static class Extensions
{
    /// <summary>Registers the module. Assumes <c>AddServiceDefaults</c> ran; safe to compose with other modules.</summary>
    public static IHostApplicationBuilder AddFanOut(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<FanOutOptions>()
            .BindConfiguration(FanOutOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<FanOutOptions>().Configure<IConfiguration>((o, c) =>
        {
            o.Region = c["Runnel:Region"] ?? o.Region;
            o.AccountId = c["Runnel:AccountId"] ?? o.AccountId;
        });
        if (!builder.Services.Any(d => d.ServiceType == typeof(IDbContextFactory<MetadataDbContext>)))
            builder.Services.AddRunnelMetadata(builder.Configuration);
        builder.Services.AddShardStoreClient(builder.Configuration);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ConsumerRegistry>();
        builder.Services.AddSingleton<SubscriptionManager>();
        builder.Services.AddSingleton<ShardSubscriber>();
        builder.Services.AddSingleton<FanOutKinesisApi>();
        builder.Services.AddSingleton(new FanOutStartTime(TimeProvider.System.GetUtcNow()));
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    public static IEndpointRouteBuilder MapFanOut(this IEndpointRouteBuilder app) => app.MapFanOutApi();
}
