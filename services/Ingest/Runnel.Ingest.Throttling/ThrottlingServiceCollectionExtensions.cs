using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Runnel.Ingest.Throttling;

public static class ThrottlingServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IThroughputLimiter"/> with options from the <c>Throttling</c> section: on
    /// Redis when <c>ConnectionStrings:Redis</c> is set (every replica shares the buckets), in process
    /// otherwise. A registered <see cref="IConnectionMultiplexer"/> is reused; else one is created.
    /// </summary>
    public static IServiceCollection AddRunnelThrottling(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ThrottlingOptions>().BindConfiguration(ThrottlingOptions.Section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ThrottlingOptions>, ThrottlingOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<StreamMetrics>();

        var redis = configuration.GetConnectionString("Redis");
        if (string.IsNullOrWhiteSpace(redis))
        {
            services.TryAddSingleton<IThroughputLimiter>(sp => ThroughputLimiter.InProcess(
                sp.GetRequiredService<IOptionsMonitor<ThrottlingOptions>>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<ILogger<ThroughputLimiter>>()));
        }
        else
        {
            services.TryAddSingleton<IConnectionMultiplexer>(_ =>
            {
                var config = ConfigurationOptions.Parse(redis);
                // Start even if Redis is down; the limiter fails open until it answers.
                config.AbortOnConnectFail = false;
                return ConnectionMultiplexer.Connect(config);
            });
            services.TryAddSingleton<IThroughputLimiter>(sp => ThroughputLimiter.Redis(
                sp.GetRequiredService<IOptionsMonitor<ThrottlingOptions>>(),
                sp.GetRequiredService<IConnectionMultiplexer>(),
                sp.GetService<ILogger<ThroughputLimiter>>()));
        }

        return services;
    }
}
