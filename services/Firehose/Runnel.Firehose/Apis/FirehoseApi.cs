using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Runnel.Firehose.Api;
using Runnel.Gateway;
using Runnel.ServiceDefaults;

namespace Runnel.Firehose.Apis;

/// <summary>What <c>GET /v1/firehose/status</c> answers.</summary>
public sealed record FirehoseStatus(
    string Service,
    string Node,
    string Version,
    DateTimeOffset StartedAt,
    bool DeliveryEnabled,
    bool DaprEnabled);

public static class FirehoseApi
{
    /// <summary>Routes live under <c>/v1/firehose</c> so Standalone can map every module side by side.</summary>
    public const string Prefix = "/v1/firehose";

    public static IEndpointRouteBuilder MapFirehoseApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix).WithTags("Firehose");
        group.MapGet("/status", GetStatus).WithName("GetFirehoseStatus");
        app.MapAwsOperationsRoute<FirehoseOperations>();
        return app;
    }

    internal static Ok<FirehoseStatus> GetStatus(
        ServiceIdentity identity,
        FirehoseStartTime started,
        IOptions<FirehoseOptions> options,
        ServiceDefaults.Dapr.ServiceInvocation invocation) =>
        TypedResults.Ok(new FirehoseStatus("firehose", identity.NodeName, identity.Version, started.Value, options.Value.DeliveryEnabled, invocation.UsesDapr));
}

/// <summary>When this module was added to the host, as reported by its status endpoint.</summary>
public sealed record FirehoseStartTime(DateTimeOffset Value);
