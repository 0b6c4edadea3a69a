using Runnel.Analytics.Apis;
using Runnel.ServiceDefaults;

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
        builder.Services.AddSingleton(new AnalyticsStartTime(TimeProvider.System.GetUtcNow()));
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    public static IEndpointRouteBuilder MapAnalytics(this IEndpointRouteBuilder app) => app.MapAnalyticsApi();
}
