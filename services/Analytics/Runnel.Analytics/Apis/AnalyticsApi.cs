using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runnel.Gateway;
using Runnel.ServiceDefaults;

namespace Runnel.Analytics.Apis;

/// <summary>What <c>GET /v1/analytics/status</c> answers.</summary>
public sealed record AnalyticsStatus(
    string Service,
    string Node,
    string Version,
    DateTimeOffset StartedAt,
    int MaxApplications,
    int QueryTimeoutSeconds,
    bool DaprEnabled);

public static class AnalyticsApi
{
    /// <summary>Routes live under <c>/v1/analytics</c> so Standalone can map every module side by side.</summary>
    public const string Prefix = "/v1/analytics";

    public static IEndpointRouteBuilder MapAnalyticsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix).WithTags("Analytics");
        group.MapGet("/status", GetStatus).WithName("GetAnalyticsStatus");
        // Where a deployed gateway forwards KinesisAnalytics_20150814.* (Standalone calls the handler in process).
        app.MapAwsOperationsRoute<AnalyticsOperations>();
        return app;
    }

    internal static Ok<AnalyticsStatus> GetStatus(
        ServiceIdentity identity,
        AnalyticsStartTime started,
        IOptions<AnalyticsOptions> options,
        ServiceDefaults.Dapr.ServiceInvocation invocation) =>
        TypedResults.Ok(new AnalyticsStatus("analytics", identity.NodeName, identity.Version, started.Value, options.Value.MaxApplications, options.Value.QueryTimeoutSeconds, invocation.UsesDapr));
}

/// <summary>When this module was added to the host, as reported by its status endpoint.</summary>
public sealed record AnalyticsStartTime(DateTimeOffset Value);
