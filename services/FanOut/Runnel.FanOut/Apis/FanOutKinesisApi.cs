using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Core.Wire;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.Subscriptions;

namespace Runnel.FanOut.Apis;

/// <summary>
/// The five consumer operations of the Kinesis API in its JSON 1.1 and CBOR 1.1 forms, as one function the public
/// endpoint calls: in process in Standalone, and behind <c>POST /v1/fanout/kinesis</c> (same target header, content
/// type and body as the public request) when FanOut runs on its own. Answers, SubscribeToShard's event payloads and
/// errors before a subscription's stream starts are in the request's format and the AWS shape.
/// </summary>
public sealed class FanOutKinesisApi(ConsumerRegistry registry, ShardSubscriber subscriber, SubscriptionManager subscriptions, ILogger<FanOutKinesisApi> logger)
{
    public static readonly IReadOnlySet<string> Operations = new HashSet<string>(StringComparer.Ordinal)
    {
        "RegisterStreamConsumer", "DeregisterStreamConsumer", "DescribeStreamConsumer", "ListStreamConsumers", "SubscribeToShard",
    };

    public static bool Handles(string operation) => Operations.Contains(operation);

    /// <summary>Runs <paramref name="operation"/> on a request body and writes the whole answer to the response.</summary>
    public async Task HandleAsync(string operation, ReadOnlyMemory<byte> body, HttpContext http, WireFormat format = WireFormat.Json)
    {
        var ct = http.RequestAborted;
        try
        {
            using var doc = ConsumerWire.Parse(body, format);
            var q = doc.RootElement;
            if (q.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("Start of structure or map expected.");
            switch (operation)
            {
                case "RegisterStreamConsumer":
                {
                    var c = await registry.RegisterAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), ct).ConfigureAwait(false);
                    await RespondAsync(http, format, w => { WriteConsumer(w, "Consumer", c, withStream: false); }).ConfigureAwait(false);
                    break;
                }
                case "DescribeStreamConsumer":
                {
                    var c = await registry.DescribeAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), Str(q, "ConsumerARN"), ct).ConfigureAwait(false);
                    await RespondAsync(http, format, w => { WriteConsumer(w, "ConsumerDescription", c, withStream: true); }).ConfigureAwait(false);
                    break;
                }
                case "DeregisterStreamConsumer":
                {
                    var c = await registry.DeregisterAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), Str(q, "ConsumerARN"), ct).ConfigureAwait(false);
                    subscriptions.EndConsumer(c.Arn);
                    await RespondAsync(http, format, _ => { }).ConfigureAwait(false);
                    break;
                }
                case "ListStreamConsumers":
                {
                    int? max = q.TryGetProperty("MaxResults", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : null;
                    var page = await registry.ListAsync(Str(q, "StreamARN"), max, Str(q, "NextToken"), ct).ConfigureAwait(false);
                    await RespondAsync(http, format, w =>
                    {
                        w.StartArray("Consumers");
                        foreach (var c in page.Consumers)
                            WriteConsumer(w, null, c, withStream: false);
                        w.EndArray();
                        if (page.NextToken is not null)
                            w.String("NextToken", page.NextToken);
                    }).ConfigureAwait(false);
                    break;
                }
                case "SubscribeToShard":
                {
                    StartingPosition? start = null;
                    if (q.TryGetProperty("StartingPosition", out var p) && p.ValueKind == JsonValueKind.Object)
                    {
                        DateTimeOffset? at = null;
                        if (p.TryGetProperty("Timestamp", out var t) && t.ValueKind == JsonValueKind.Number)
                            at = MalformedInput.TryEpochSeconds(t.GetDouble(), out var when) ? when
                                : throw KinesisException.InvalidArgument("StartingPosition.Timestamp is out of range.");
                        start = new StartingPosition(Str(p, "Type"), Str(p, "SequenceNumber"), at);
                    }
                    await subscriber.SubscribeAsync(new SubscribeRequest(Str(q, "ConsumerARN"), Str(q, "ShardId"), start), http.Response, format, ct).ConfigureAwait(false);
                    break;
                }
                default:
                    throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {operation} is not supported.");
            }
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await ErrorAsync(http, format, e.Type, e.Message, e.StatusCode).ConfigureAwait(false);
        }
        catch (Exception e) when (MalformedInput.Is(e))
        {
            if (!http.Response.HasStarted)
                await ErrorAsync(http, format, ErrorTypes.Serialization, format == WireFormat.Cbor ? "Malformed CBOR request body." : "Malformed JSON request body.", 400).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled fault in {Operation}", operation);
            if (!http.Response.HasStarted)
                await ErrorAsync(http, format, ErrorTypes.InternalFailure, "Internal service failure.", 500).ConfigureAwait(false);
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
        var format = ConsumerWire.FormatOf(http.Request.ContentType);
        await api.HandleAsync(operation, buffer.GetBuffer().AsMemory(0, (int)buffer.Length), http, format).ConfigureAwait(false);
    }

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Null => null,
            _ => throw KinesisException.Serialization($"{name} must be a string."),
        } : null;

    private static void WriteConsumer(WireWriter w, string? name, ConsumerInfo c, bool withStream)
    {
        if (name is null)
            w.StartObject();
        else
            w.StartObject(name);
        w.String("ConsumerName", c.Name);
        w.String("ConsumerARN", c.Arn);
        w.String("ConsumerStatus", c.Status);
        w.Timestamp("ConsumerCreationTimestamp", c.CreatedAt.ToUnixTimeMilliseconds());
        if (withStream)
            w.String("StreamARN", c.StreamArn);
        w.EndObject();
    }

    private static async Task RespondAsync(HttpContext http, WireFormat format, Action<WireWriter> members)
    {
        using var w = new WireWriter(format, 256);
        w.StartObject();
        members(w);
        w.EndObject();
        var bytes = w.Complete();
        http.Response.StatusCode = 200;
        http.Response.ContentType = ConsumerWire.ContentType(format);
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }

    private static async Task ErrorAsync(HttpContext http, WireFormat format, string type, string message, int status)
    {
        using var w = new WireWriter(format, 256);
        w.StartObject();
        w.String("__type", type);
        w.String("message", message);
        w.EndObject();
        var bytes = w.Complete();
        http.Response.StatusCode = status;
        http.Response.ContentType = ConsumerWire.ContentType(format);
        http.Response.Headers["x-amzn-ErrorType"] = type;
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }
}
