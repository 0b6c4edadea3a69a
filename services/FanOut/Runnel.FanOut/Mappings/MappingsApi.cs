using System.Globalization;
using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.FanOut.Mappings;

/// <summary>
/// Lambda's event-source-mapping REST API (<c>/2015-03-31/event-source-mappings/</c>), so
/// <c>aws lambda *-event-source-mapping(s) --endpoint-url</c> works against Runnel. Deployed, the public endpoint
/// forwards these paths here unchanged; in Standalone they are mapped on the public port directly.
/// </summary>
public static class MappingsApi
{
    public const string Prefix = "/2015-03-31/event-source-mappings";

    public static IEndpointRouteBuilder MapEventSourceMappings(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup(Prefix).WithTags("EventSourceMappings");
        // Deployed, the gateway authenticates and forwards these calls: only the internal listener serves them.
        if (app.ServiceProvider.GetRequiredService<InternalEndpoint>().Urls.Count > 0)
            group.RequireInternal();
        group.MapPost("/", (HttpContext http, MappingRegistry registry) =>
            RunAsync(http, 202, async ct => Write(await registry.CreateAsync(await BodyAsync(http, ct), ct).ConfigureAwait(false))));
        group.MapGet("/", (HttpContext http, MappingRegistry registry) => RunAsync(http, 200, async ct =>
        {
            var query = http.Request.Query;
            int? max = null;
            if (query["MaxItems"].ToString() is { Length: > 0 } text)
                max = int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var m) ? m : throw MappingException.InvalidParameter("MaxItems must be an integer.");
            var page = await registry.ListAsync(Opt(query["EventSourceArn"]), Opt(query["FunctionName"]), Opt(query["Marker"]), max, ct).ConfigureAwait(false);
            return w =>
            {
                w.WriteStartObject();
                if (page.NextMarker is not null)
                    w.WriteString("NextMarker", page.NextMarker);
                w.WriteStartArray("EventSourceMappings");
                foreach (var m in page.Mappings)
                    WriteMapping(w, m);
                w.WriteEndArray();
                w.WriteEndObject();
            };
        }));
        group.MapGet("/{uuid}", (HttpContext http, string uuid, MappingRegistry registry) =>
            RunAsync(http, 200, async ct => Write(await registry.GetAsync(uuid, ct).ConfigureAwait(false))));
        group.MapPut("/{uuid}", (HttpContext http, string uuid, MappingRegistry registry) =>
            RunAsync(http, 202, async ct => Write(await registry.UpdateAsync(uuid, await BodyAsync(http, ct), ct).ConfigureAwait(false))));
        group.MapDelete("/{uuid}", (HttpContext http, string uuid, MappingRegistry registry) =>
            RunAsync(http, 202, async ct => Write(await registry.DeleteAsync(uuid, ct).ConfigureAwait(false))));
        return app;
    }

    /// <summary>Lambda's configuration shape; FunctionArn carries the receiver's URL.</summary>
    public static void WriteMapping(Utf8JsonWriter w, EventSourceMappingEntity m)
    {
        w.WriteStartObject();
        w.WriteString("UUID", m.Uuid);
        w.WriteString("StartingPosition", m.StartingPosition);
        if (m.StartingPositionTimestamp is { } at)
            w.WriteNumber("StartingPositionTimestamp", at.ToUnixTimeMilliseconds() / 1000.0);
        w.WriteNumber("BatchSize", m.BatchSize);
        w.WriteNumber("MaximumBatchingWindowInSeconds", m.MaximumBatchingWindowInSeconds);
        w.WriteNumber("ParallelizationFactor", m.ParallelizationFactor);
        w.WriteString("EventSourceArn", m.EventSourceArn);
        w.WriteString("FunctionArn", m.FunctionName);
        w.WriteNumber("LastModified", m.LastModified.ToUnixTimeMilliseconds() / 1000.0);
        w.WriteString("LastProcessingResult", m.LastProcessingResult);
        w.WriteString("State", m.State);
        w.WriteString("StateTransitionReason", m.StateTransitionReason);
        w.WriteStartObject("DestinationConfig");
        w.WriteStartObject("OnFailure");
        if (m.OnFailureDestination is not null)
            w.WriteString("Destination", m.OnFailureDestination);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteNumber("MaximumRecordAgeInSeconds", m.MaximumRecordAgeInSeconds);
        w.WriteBoolean("BisectBatchOnFunctionError", m.BisectBatchOnFunctionError);
        w.WriteNumber("MaximumRetryAttempts", m.MaximumRetryAttempts);
        w.WriteNumber("TumblingWindowInSeconds", 0);
        w.WriteStartArray("FunctionResponseTypes");
        if (m.ReportBatchItemFailures)
            w.WriteStringValue("ReportBatchItemFailures");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static Action<Utf8JsonWriter> Write(EventSourceMappingEntity m) => w => WriteMapping(w, m);

    private static string? Opt(Microsoft.Extensions.Primitives.StringValues v) => v.Count == 0 || string.IsNullOrEmpty(v[0]) ? null : v[0];

    private static async Task<JsonElement> BodyAsync(HttpContext http, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, ct).ConfigureAwait(false);
        if (buffer.Length == 0)
            return JsonDocument.Parse("{}").RootElement.Clone();
        try
        {
            using var doc = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw MappingException.InvalidParameter("The request body must be a JSON object.");
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw MappingException.InvalidParameter("Could not parse request body into json.");
        }
    }

    private static async Task RunAsync(HttpContext http, int status, Func<CancellationToken, Task<Action<Utf8JsonWriter>>> action)
    {
        var ct = http.RequestAborted;
        http.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        try
        {
            Action<Utf8JsonWriter> write;
            try
            {
                write = await action(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (MalformedInput.Is(e))
            {
                throw MappingException.InvalidParameter("Could not parse request body into json.");
            }
            catch (BadHttpRequestException e)
            {
                throw new MappingException("InvalidRequestContentException", e.StatusCode, e.Message);
            }
            catch (IOException e) when (!ct.IsCancellationRequested)
            {
                throw new MappingException("InvalidRequestContentException", 400, e.Message);
            }
            await RespondAsync(http, status, write).ConfigureAwait(false);
        }
        catch (MappingException e)
        {
            http.Response.Headers["x-amzn-ErrorType"] = e.Type;
            await RespondAsync(http, e.StatusCode, w =>
            {
                w.WriteStartObject();
                w.WriteString("Type", "User");
                w.WriteString("message", e.Message);
                w.WriteEndObject();
            }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MappingsApi)).LogError(e, "Unhandled fault in {Method} {Path}", http.Request.Method, http.Request.Path);
            http.Response.Headers["x-amzn-ErrorType"] = "ServiceException";
            await RespondAsync(http, 500, w =>
            {
                w.WriteStartObject();
                w.WriteString("Type", "Service");
                w.WriteString("message", "Internal service failure.");
                w.WriteEndObject();
            }).ConfigureAwait(false);
        }
    }

    private static async Task RespondAsync(HttpContext http, int status, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        await using (var w = new Utf8JsonWriter(buffer))
            write(w);
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = buffer.Length;
        await http.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), http.RequestAborted).ConfigureAwait(false);
    }
}
