using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Runnel.Core.Errors;
using Runnel.Core.Wire;
using Microsoft.Extensions.Options;
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
        group.MapPost("/aws", HandleAwsAsync).WithName("AnalyticsAwsOperations");
        return app;
    }

    /// <summary>
    /// <c>POST /v1/analytics/aws</c>: the Kinesis Analytics JSON 1.1 protocol (operation in <c>X-Amz-Target</c>),
    /// answered in the service's shape; errors carry <c>__type</c> and <c>message</c> and the
    /// <c>x-amzn-ErrorType</c> header.
    /// </summary>
    internal static async Task HandleAwsAsync(HttpContext http, AnalyticsOperations operations, ILogger<AnalyticsOperations> logger)
    {
        var target = http.Request.Headers["X-Amz-Target"].ToString();
        http.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        try
        {
            if (!target.StartsWith(AnalyticsOperations.Prefix, StringComparison.Ordinal) || !operations.Handles(target[AnalyticsOperations.Prefix.Length..]))
                throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {target} is not supported.");
            JsonDocument doc;
            try
            {
                doc = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            }
            catch (JsonException)
            {
                throw KinesisException.Serialization("Malformed JSON request body.");
            }
            using (doc)
            {
                var members = await operations.ExecuteAsync(target[AnalyticsOperations.Prefix.Length..], doc.RootElement, http.RequestAborted);
                using var w = new WireWriter(WireFormat.Json, 512);
                w.StartObject();
                members?.Invoke(w);
                w.EndObject();
                http.Response.ContentType = "application/x-amz-json-1.1";
                await http.Response.Body.WriteAsync(w.Complete(), http.RequestAborted);
            }
        }
        catch (KinesisException e)
        {
            await WriteErrorAsync(http, e.Type, e.Message, e.StatusCode);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled fault in {Target}", target);
            await WriteErrorAsync(http, ErrorTypes.InternalFailure, "Internal service failure.", 500);
        }
    }

    private static async Task WriteErrorAsync(HttpContext http, string type, string message, int status)
    {
        if (http.Response.HasStarted)
            return;
        http.Response.StatusCode = status;
        http.Response.Headers["x-amzn-ErrorType"] = type;
        using var w = new WireWriter(WireFormat.Json, 256);
        w.StartObject();
        w.String("__type", type);
        w.String("message", message);
        w.EndObject();
        http.Response.ContentType = "application/x-amz-json-1.1";
        await http.Response.Body.WriteAsync(w.Complete());
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
