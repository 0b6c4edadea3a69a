using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Runnel.Metadata;
using Runnel.ServiceDefaults.Health;

namespace Runnel.ServiceDefaults;

public static class DependencyCheckExtensions
{
    /// <summary>Upper bound for one dependency probe; kubelet's default readiness timeout is 1 s, ours is set to 5 s in the charts.</summary>
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Adds a readiness check for each real dependency that is configured: the metadata store
    /// (<c>ConnectionStrings:Metadata</c>), Redis (<c>ConnectionStrings:Redis</c>), RabbitMQ
    /// (<c>ConnectionStrings:RabbitMq</c>) and S3 (<c>S3:Endpoint</c>). Unconfigured ones are skipped,
    /// so Standalone with its embedded defaults reports only what it really uses.
    /// </summary>
    public static TBuilder AddRunnelDependencyChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        if (Extensions.IsRegistered<DependencyChecksMarker>(builder))
        {
            return builder;
        }
        var configuration = builder.Configuration;
        var checks = builder.Services.AddHealthChecks();
        string[] tags = [Extensions.ReadyTag];

        if (!string.IsNullOrWhiteSpace(configuration.GetConnectionString("Metadata")))
        {
            if (!builder.Services.Any(d => d.ServiceType == typeof(IDbContextFactory<MetadataDbContext>)))
            {
                builder.Services.AddRunnelMetadata(configuration);
            }
            checks.AddCheck<MetadataHealthCheck>("metadata", HealthStatus.Unhealthy, tags, CheckTimeout);
        }

        var redis = configuration.GetConnectionString("Redis");
        if (!string.IsNullOrWhiteSpace(redis))
        {
            checks.Add(new HealthCheckRegistration("redis",
                sp => ActivatorUtilities.CreateInstance<RedisHealthCheck>(sp, redis), HealthStatus.Unhealthy, tags, CheckTimeout));
        }

        var rabbit = configuration.GetConnectionString("RabbitMq");
        if (!string.IsNullOrWhiteSpace(rabbit))
        {
            var uri = new Uri(rabbit, UriKind.Absolute);
            checks.Add(new HealthCheckRegistration("rabbitmq",
                _ => new RabbitMqHealthCheck(uri), HealthStatus.Unhealthy, tags, CheckTimeout));
        }

        if (S3Settings.From(configuration) is { } s3)
        {
            checks.Add(new HealthCheckRegistration("s3",
                _ => new S3HealthCheck(s3), HealthStatus.Unhealthy, tags, CheckTimeout));
        }

        return builder;
    }

    private sealed class DependencyChecksMarker;
}
