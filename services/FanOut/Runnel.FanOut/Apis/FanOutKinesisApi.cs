using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Core.Wire;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.Subscriptions;
using Runnel.Gateway;

namespace Runnel.FanOut.Apis;

/// <summary>
/// The five consumer operations of the Kinesis API in its JSON 1.1 and CBOR 1.1 forms, served through the gateway:
/// in process in Standalone, and behind <c>POST /v1/fanout/kinesis</c> (same target header, content type and body as
/// the public request) when FanOut runs on its own. Answers, SubscribeToShard's event payloads and errors before a
/// subscription's stream starts are in the request's format and the AWS shape.
/// </summary>
public sealed class FanOutKinesisApi(ConsumerRegistry registry, ShardSubscriber subscriber, SubscriptionManager subscriptions) : IAwsOperations
{
    public string Service => AwsServices.FanOut.Name;
    public string TargetPrefix => AwsServices.KinesisPrefix;
    public bool Handles(string operation) => AwsServices.FanOut.Owns(operation);

    /// <summary>Runs the operation and writes the whole answer.</summary>
    public async Task HandleAsync(AwsRequest request)
    {
        var http = request.Http;
        var format = request.Format;
        var operation = request.Operation;
        var ct = request.Aborted;
        try
        {
            using var doc = request.ReadDocument();
            var q = doc.RootElement;
            if (q.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("Start of structure or map expected.");
            switch (operation)
            {
                case "RegisterStreamConsumer":
                {
                    var c = await registry.RegisterAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), ct).ConfigureAwait(false);
                    await AwsAnswers.WriteAsync(request, w => { WriteConsumer(w, "Consumer", c, withStream: false); }).ConfigureAwait(false);
                    break;
                }
                case "DescribeStreamConsumer":
                {
                    var c = await registry.DescribeAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), Str(q, "ConsumerARN"), ct).ConfigureAwait(false);
                    await AwsAnswers.WriteAsync(request, w => { WriteConsumer(w, "ConsumerDescription", c, withStream: true); }).ConfigureAwait(false);
                    break;
                }
                case "DeregisterStreamConsumer":
                {
                    var c = await registry.DeregisterAsync(Str(q, "StreamARN"), Str(q, "ConsumerName"), Str(q, "ConsumerARN"), ct).ConfigureAwait(false);
                    subscriptions.EndConsumer(c.Arn);
                    await AwsAnswers.WriteEmptyAsync(request).ConfigureAwait(false);
                    break;
                }
                case "ListStreamConsumers":
                {
                    int? max = q.TryGetProperty("MaxResults", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt32() : null;
                    var page = await registry.ListAsync(Str(q, "StreamARN"), max, Str(q, "NextToken"), ct).ConfigureAwait(false);
                    await AwsAnswers.WriteAsync(request, w =>
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
        catch (Exception e) when (MalformedInput.Is(e))
        {
            // A member of the wrong JSON kind (a number where a string belongs, say) is the client's fault.
            throw KinesisException.Serialization(format == WireFormat.Cbor ? "Malformed CBOR request body." : "Malformed JSON request body.");
        }
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
}
