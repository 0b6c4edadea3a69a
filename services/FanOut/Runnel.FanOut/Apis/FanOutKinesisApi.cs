using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.Subscriptions;

namespace Runnel.FanOut.Apis;

/// <summary>
/// The five consumer operations of the Kinesis API in its JSON 1.1 form, as one function the public endpoint calls:
/// in process in Standalone, and behind <c>POST /v1/fanout/kinesis</c> (same headers and body as the public request)
/// when FanOut runs on its own. Errors before a subscription's stream starts are answered in the AWS shape.
/// </summary>
public sealed class FanOutKinesisApi(ConsumerRegistry registry, ShardSubscriber subscriber, SubscriptionManager subscriptions, ILogger<FanOutKinesisApi> logger)
{
    private const string JsonContentType = "application/x-amz-json-1.1";

    public static readonly IReadOnlySet<string> Operations = new HashSet<string>(StringComparer.Ordinal)
    {
        "RegisterStreamConsumer", "DeregisterStreamConsumer", "DescribeStreamConsumer", "ListStreamConsumers", "SubscribeToShard",
    };

    public static bool Handles(string operation) => Operations.Contains(operation);

    /// <summary>Runs <paramref name="operation"/> on a JSON request body and writes the whole answer to the response.</summary>
    public async Task HandleAsync(string operation, ReadOnlyMemory<byte> body, HttpContext http)
    {
        var ct = http.RequestAborted;
        try
        {
            using var doc = body.IsEmpty ? JsonDocument.Parse("{}") : JsonDocument.Parse(body);
            var q = doc.RootElement;
            if (q.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("The request body must be a JSON object.");
            switch (operation)
            {
                case "RegisterStreamConsumer":
                {
                    var c = await registry.RegisterAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), ct).ConfigureAwait(false);
                    await RespondAsync(http, w => { w.WritePropertyName("Consumer"); WriteConsumer(w, c, withStream: false); }).ConfigureAwait(false);
                    break;
                }
                case "DescribeStreamConsumer":
                {
                    var c = await registry.DescribeAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), Str(q, "ConsumerARN"), ct).ConfigureAwait(false);
                    await RespondAsync(http, w => { w.WritePropertyName("ConsumerDescription"); WriteConsumer(w, c, withStream: true); }).ConfigureAwait(false);
                    break;
                }
                case "DeregisterStreamConsumer":
                {
                    var c = await registry.DeregisterAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), Str(q, "ConsumerARN"), ct).ConfigureAwait(false);
                    subscriptions.EndConsumer(c.Arn);
                    await RespondAsync(http, _ => { }).ConfigureAwait(false);
                    break;
                }
                case "ListStreamConsumers":
                {
                    int? max = q.TryGetProperty("MaxResults", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : null;
                    var page = await registry.ListAsync(Str(q, "StreamARN"), max, Str(q, "NextToken"), ct).ConfigureAwait(false);
                    await RespondAsync(http, w =>
                    {
                        w.WriteStartArray("Consumers");
                        foreach (var c in page.Consumers)
                            WriteConsumer(w, c, withStream: false);
                        w.WriteEndArray();
                        if (page.NextToken is not null)
                            w.WriteString("NextToken", page.NextToken);
                    }).ConfigureAwait(false);
                    break;
                }
                case "SubscribeToShard":
                {
                    StartingPosition? start = null;
                    if (q.TryGetProperty("StartingPosition", out var p) && p.ValueKind == JsonValueKind.Object)
                    {
                        DateTimeOffset? at = p.TryGetProperty("Timestamp", out var t) && t.ValueKind == JsonValueKind.Number
                            ? DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(t.GetDouble() * 1000))
                            : null;
                        start = new StartingPosition(Str(p, "Type"), Str(p, "SequenceNumber"), at);
                    }
                    await subscriber.SubscribeAsync(new SubscribeRequest(Str(q, "ConsumerARN"), Str(q, "ShardId"), start), http.Response, ct).ConfigureAwait(false);
                    break;
                }
                default:
                    throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {operation} is not supported.");
            }
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await ErrorAsync(http, e.Type, e.Message, e.StatusCode).ConfigureAwait(false);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            if (!http.Response.HasStarted)
                await ErrorAsync(http, ErrorTypes.Serialization, "Malformed JSON request body.", 400).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled fault in {Operation}", operation);
            if (!http.Response.HasStarted)
                await ErrorAsync(http, ErrorTypes.InternalFailure, "Internal service failure.", 500).ConfigureAwait(false);
        }
    }

    /// <summary>The route for a FanOut deployed on its own: the public endpoint forwards the request as it came.</summary>
    internal static async Task HandleRouteAsync(HttpContext http, FanOutKinesisApi api)
    {
        const string prefix = "Kinesis_20131202.";
        var target = http.Request.Headers["X-Amz-Target"].ToString();
        var operation = target.StartsWith(prefix, StringComparison.Ordinal) ? target[prefix.Length..] : "";
        http.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted).ConfigureAwait(false);
        await api.HandleAsync(operation, buffer.GetBuffer().AsMemory(0, (int)buffer.Length), http).ConfigureAwait(false);
    }

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Null => null,
            _ => throw KinesisException.Serialization($"{name} must be a string."),
        } : null;

    private static void WriteConsumer(Utf8JsonWriter w, ConsumerInfo c, bool withStream)
    {
        w.WriteStartObject();
        w.WriteString("ConsumerName", c.Name);
        w.WriteString("ConsumerARN", c.Arn);
        w.WriteString("ConsumerStatus", c.Status);
        w.WriteNumber("ConsumerCreationTimestamp", c.CreatedAt.ToUnixTimeMilliseconds() / 1000.0);
        if (withStream)
            w.WriteString("StreamARN", c.StreamArn);
        w.WriteEndObject();
    }

    private static async Task RespondAsync(HttpContext http, Action<Utf8JsonWriter> members)
    {
        using var buffer = new MemoryStream();
        await using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            members(w);
            w.WriteEndObject();
        }
        http.Response.StatusCode = 200;
        http.Response.ContentType = JsonContentType;
        http.Response.ContentLength = buffer.Length;
        await http.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), http.RequestAborted).ConfigureAwait(false);
    }

    private static async Task ErrorAsync(HttpContext http, string type, string message, int status)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["__type"] = type, ["message"] = message });
        http.Response.StatusCode = status;
        http.Response.ContentType = JsonContentType;
        http.Response.Headers["x-amzn-ErrorType"] = type;
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }
}
