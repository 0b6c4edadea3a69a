using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Runnel.Firehose.Api;
using Runnel.Firehose.Apis;
using Runnel.Firehose.Delivery;
using Runnel.Firehose.Intake;
using Runnel.ServiceDefaults.Objects;
using Runnel.Gateway;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Health;
using Runnel.ServiceDefaults.Outbound;
using Runnel.ShardStore.Client;

namespace Runnel.Firehose;

/// <summary>Delivery streams: buffers records and writes them to S3-compatible storage.</summary>
public static class Extensions
{
    /// <summary>Registers the module. Assumes <c>AddServiceDefaults</c> ran; safe to compose with other modules.</summary>
    public static IHostApplicationBuilder AddFirehose(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<FirehoseOptions>()
            .BindConfiguration(FirehoseOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<FirehoseOptions>().Configure<IConfiguration>((o, c) =>
        {
            o.Region = c["Runnel:Region"] ?? o.Region;
            o.AccountId = c["Runnel:AccountId"] ?? o.AccountId;
            o.LocalFolder ??= Path.Combine(c["Runnel:DataDirectory"] is { Length: > 0 } data ? data : Directory.GetCurrentDirectory(), "buckets");
        });
        if (!services.Any(d => d.ServiceType == typeof(IDbContextFactory<MetadataDbContext>)))
            services.AddRunnelMetadata(builder.Configuration);
        services.AddShardStoreClient(builder.Configuration);
        services.TryAddSingleton(TimeProvider.System);
        var s3 = S3Settings.From(builder.Configuration);
        services.AddSingleton<IObjectStore>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<FirehoseOptions>>().Value;
            return ObjectStores.Create(s3, o.LocalFolder!, o.Region);
        });
        services.AddDeliveryStreams();
        services.AddAwsOperations<FirehoseOperations>();
        services.AddHostedService<DeliveryService>();
        services.AddSingleton(new FirehoseStartTime(TimeProvider.System.GetUtcNow()));
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    /// <summary>
    /// The delivery-stream API and delivery's parts, without the delivery loop: what a <see cref="DeliveryService"/>
    /// needs besides the metadata store, the shard store locator, <see cref="FirehoseOptions"/> and the object store.
    /// </summary>
    public static IServiceCollection AddDeliveryStreams(this IServiceCollection services)
    {
        // Every outbound connection made for a user (HTTP endpoints, transform functions, PostgreSQL) passes one policy,
        // keyed because other modules in the same host have their own allowed hosts.
        services.TryAddKeyedSingleton(FirehoseOptions.Section,
            (sp, _) => new DestinationPolicy(sp.GetRequiredService<IOptions<FirehoseOptions>>().Value.AllowedHosts));
        services.TryAddSingleton<BackingStreams>();
        services.TryAddSingleton<DeliveryLeases>();
        services.TryAddSingleton<DeliverySignal>();
        services.TryAddSingleton<HttpEndpointSender>();
        services.TryAddSingleton<RecordTransformer>();
        services.TryAddSingleton<FirehoseMetrics>();
        services.TryAddSingleton<DeliveryStreamApi>();
        return services;
    }

    public static IEndpointRouteBuilder MapFirehose(this IEndpointRouteBuilder app) => app.MapFirehoseApi();
}
