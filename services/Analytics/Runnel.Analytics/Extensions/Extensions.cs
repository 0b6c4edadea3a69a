using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Runnel.Analytics.Apis;
using Runnel.Analytics.Applications;
using Runnel.Analytics.Runner;
using Runnel.Gateway;
using Runnel.Metadata;
using Microsoft.Extensions.Options;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Health;
using Runnel.ServiceDefaults.Objects;
using Runnel.ShardStore.Client;

namespace Runnel.Analytics;

/// <summary>SQL applications over streams, a query API and dashboards.</summary>
public static class Extensions
{
    /// <summary>Registers the module. Assumes <c>AddServiceDefaults</c> ran; safe to compose with other modules.</summary>
    public static IHostApplicationBuilder AddAnalytics(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AnalyticsOptions>()
            .BindConfiguration(AnalyticsOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<AnalyticsOptions>().Configure<IConfiguration>((o, c) =>
        {
            o.Region = c["Runnel:Region"] ?? o.Region;
            o.AccountId = c["Runnel:AccountId"] ?? o.AccountId;
            // The folder delivery streams write to when no S3 endpoint is configured, so reference data can be read there.
            o.LocalFolder ??= Path.Combine(c["Runnel:DataDirectory"] is { Length: > 0 } data ? data : Directory.GetCurrentDirectory(), "buckets");
        });
        if (!builder.Services.Any(d => d.ServiceType == typeof(IDbContextFactory<MetadataDbContext>)))
            builder.Services.AddRunnelMetadata(builder.Configuration);
        builder.Services.AddShardStoreClient(builder.Configuration);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(new AnalyticsStartTime(TimeProvider.System.GetUtcNow()));
        var s3 = S3Settings.From(builder.Configuration);
        builder.Services.TryAddSingleton<IObjectStore>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<AnalyticsOptions>>().Value;
            return ObjectStores.Create(s3, o.LocalFolder!, o.Region);
        });
        builder.Services.AddSingleton<ApplicationCatalog>();
        builder.Services.AddSingleton<SchemaDiscovery>();
        builder.Services.AddAwsOperations<AnalyticsOperations>();
        builder.Services.AddSingleton<LambdaOutputs>();
        builder.Services.AddSingleton<AnalyticsRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<AnalyticsRunner>());
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    public static IEndpointRouteBuilder MapAnalytics(this IEndpointRouteBuilder app) => app.MapAnalyticsApi();
}
