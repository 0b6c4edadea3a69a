using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runnel.Gateway;
using Runnel.ServiceDefaults;

namespace Runnel.FanOut.Apis;

/// <summary>What <c>GET /v1/fanout/status</c> answers.</summary>
public sealed record FanOutStatus(
    string Service,
    string Node,
    string Version,
    DateTimeOffset StartedAt,
    int MaxConsumersPerStream,
    int SubscriptionSeconds,
    bool DaprEnabled);

public static class FanOutApi
{
    /// <summary>Routes live under <c>/v1/fanout</c> so Standalone can map every module side by side.</summary>
    public const string Prefix = "/v1/fanout";

    public static IEndpointRouteBuilder MapFanOutApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix).WithTags("FanOut");
        group.MapGet("/status", GetStatus).WithName("GetFanOutStatus");
        app.MapAwsOperationsRoute<FanOutKinesisApi>();
        return app;
    }

    internal static Ok<FanOutStatus> GetStatus(
        ServiceIdentity identity,
        FanOutStartTime started,
        IOptions<FanOutOptions> options,
        ServiceDefaults.Dapr.ServiceInvocation invocation) =>
        TypedResults.Ok(new FanOutStatus("fanout", identity.NodeName, identity.Version, started.Value, options.Value.MaxConsumersPerStream, options.Value.SubscriptionSeconds, invocation.UsesDapr));
}

/// <summary>When this module was added to the host, as reported by its status endpoint.</summary>
public sealed record FanOutStartTime(DateTimeOffset Value);
