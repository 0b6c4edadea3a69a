using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Runnel.FanOut.Apis;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.Mappings;
using Runnel.FanOut.Subscriptions;
using Runnel.Gateway;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ShardStore.Client;
using StackExchange.Redis;

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
        // With Redis the one-subscription-per-(consumer, shard) rule holds across every FanOut replica.
        var redis = builder.Configuration.GetConnectionString("Redis");
        if (!string.IsNullOrWhiteSpace(redis))
        {
            builder.Services.TryAddSingleton<IConnectionMultiplexer>(_ =>
            {
                var config = ConfigurationOptions.Parse(redis);
                // Start even if Redis is down; the rule falls back to this process until it answers.
                config.AbortOnConnectFail = false;
                return ConnectionMultiplexer.Connect(config);
            });
            builder.Services.AddSingleton<RedisSubscriptionSlots>();
        }
        builder.Services.AddSingleton(sp => new SubscriptionManager(
            sp.GetRequiredService<IOptions<FanOutOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            sp.GetService<RedisSubscriptionSlots>(),
            sp.GetService<ILogger<SubscriptionManager>>()));
        builder.Services.AddSingleton<ShardSubscriber>();
        builder.Services.AddAwsOperations<FanOutKinesisApi>();
        builder.Services.AddSingleton(new FanOutStartTime(TimeProvider.System.GetUtcNow()));
        builder.AddEventSourceMappings();
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    public static IEndpointRouteBuilder MapFanOut(this IEndpointRouteBuilder app) => app.MapFanOutApi().MapEventSourceMappings();
}
