using System.Formats.Cbor;
using System.Net.Http.Headers;
using System.Text;
using Runnel.FanOut.EventStream;
using Runnel.TestKit;

namespace Runnel.Ingest.Tests;

/// <summary>
/// The consumer operations and SubscribeToShard in CBOR 1.1, the AWS SDK for Java's default: requests hand-built in
/// CBOR, answers and event payloads read as CBOR (byte-string blobs, tag-1 timestamps in milliseconds).
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class CborConsumerTests(StandaloneFixture f)
{
    private const string Cbor = "application/x-amz-cbor-1.1";

    [Fact]
    public async Task Register_describe_list_subscribe_and_deregister_in_cbor()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = StandaloneFixture.NewStreamName("cbor-efo");
        await f.CreateStreamAsync(stream);
        var streamArn = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream }))
            .GetProperty("StreamDescriptionSummary").GetProperty("StreamARN").GetString()!;
        var sent = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var data = $"cbor-{i}";
            await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "k", Data = Convert.ToBase64String(Encoding.UTF8.GetBytes(data)) });
            sent.Add(data);
        }

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var registered = await CallAsync("RegisterStreamConsumer", w => Members(w, ("StreamARN", streamArn), ("ConsumerName", "java")));
        Assert.Equal(200, registered.Status);
        Assert.Equal(Cbor, registered.ContentType);
        var consumer = (Dictionary<string, object?>)registered.Body["Consumer"]!;
        var consumerArn = (string)consumer["ConsumerARN"]!;
        Assert.StartsWith($"{streamArn}/consumer/java:", consumerArn);
        Assert.Equal("CREATING", consumer["ConsumerStatus"]);
        var (tag, created) = ((CborTag, object?))consumer["ConsumerCreationTimestamp"]!;
        Assert.Equal(CborTag.UnixTimeSeconds, tag);
        // Milliseconds, whole seconds (the ARN carries them): within a few seconds of the call.
        Assert.InRange((long)created!, before - 5_000, before + 5_000);

        var described = await CallAsync("DescribeStreamConsumer", w => Members(w, ("ConsumerARN", consumerArn)));
        Assert.Equal(200, described.Status);
        var description = (Dictionary<string, object?>)described.Body["ConsumerDescription"]!;
        Assert.Equal("ACTIVE", description["ConsumerStatus"]);
        Assert.Equal(streamArn, description["StreamARN"]);

        var listed = await CallAsync("ListStreamConsumers", w =>
        {
            Members(w, ("StreamARN", streamArn));
            w.WriteTextString("MaxResults");
            w.WriteInt32(5);
        });
        Assert.Equal(200, listed.Status);
        var consumers = (List<object?>)listed.Body["Consumers"]!;
        Assert.Equal(consumerArn, ((Dictionary<string, object?>)Assert.Single(consumers)!)["ConsumerARN"]);

        var missing = await CallAsync("DescribeStreamConsumer", w => Members(w, ("StreamARN", streamArn), ("ConsumerName", "nobody")));
        Assert.Equal(400, missing.Status);
        Assert.Equal(Cbor, missing.ContentType);
        Assert.Equal("ResourceNotFoundException", missing.Body["__type"]);

        // SubscribeToShard: every event's payload is CBOR, its records carry byte-string data.
        var events = await SubscribeAsync(consumerArn, "shardId-000000000000", "TRIM_HORIZON", sent.Count, ct);
        Assert.Equal("initial-response", events[0].HeaderString(":event-type"));
        Assert.Empty(CborDocument.Read(events[0].Payload));
        var records = new List<Dictionary<string, object?>>();
        foreach (var e in events.Skip(1))
        {
            Assert.Equal("SubscribeToShardEvent", e.HeaderString(":event-type"));
            Assert.Equal(Cbor, e.HeaderString(":content-type"));
            var payload = CborDocument.Read(e.Payload);
            Assert.IsType<long>(payload["MillisBehindLatest"]);
            records.AddRange(((List<object?>)payload["Records"]!).Cast<Dictionary<string, object?>>());
        }
        Assert.Equal(sent, records.Select(r => Encoding.UTF8.GetString((byte[])r["Data"]!)));
        Assert.All(records, r =>
        {
            var (t, ms) = ((CborTag, object?))r["ApproximateArrivalTimestamp"]!;
            Assert.Equal(CborTag.UnixTimeSeconds, t);
            Assert.InRange((long)ms!, before - 60_000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 5_000);
            Assert.Equal("k", r["PartitionKey"]);
        });

        var deregistered = await CallAsync("DeregisterStreamConsumer", w => Members(w, ("ConsumerARN", consumerArn)));
        Assert.Equal(200, deregistered.Status);
        Assert.Empty(deregistered.Body);
        var gone = await CallAsync("DescribeStreamConsumer", w => Members(w, ("ConsumerARN", consumerArn)));
        Assert.Equal("ResourceNotFoundException", gone.Body["__type"]);
    }

    [Fact]
    public async Task Malformed_cbor_and_an_unknown_consumer_are_answered_in_cbor()
    {
        var ct = TestContext.Current.CancellationToken;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent([0xBF, 0x63, 0x61]) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(Cbor);
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202.ListStreamConsumers");
        using var response = await f.Http.SendAsync(request, ct);
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal(Cbor, response.Content.Headers.ContentType?.MediaType);
        var body = CborDocument.Read(await response.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal("SerializationException", body["__type"]);

        var subscribe = await CallAsync("SubscribeToShard", w =>
        {
            Members(w, ("ConsumerARN", "arn:aws:kinesis:us-east-1:000000000000:stream/none/consumer/c:1"), ("ShardId", "shardId-000000000000"));
            w.WriteTextString("StartingPosition");
            w.WriteStartMap(null);
            Members(w, ("Type", "LATEST"));
            w.WriteEndMap();
        });
        Assert.Equal(400, subscribe.Status);
        Assert.Equal("ResourceNotFoundException", subscribe.Body["__type"]);
    }

    private async Task<List<EventMessage>> SubscribeAsync(string consumerArn, string shardId, string type, int records, CancellationToken ct)
    {
        var writer = new CborWriter();
        writer.WriteStartMap(null);
        Members(writer, ("ConsumerARN", consumerArn), ("ShardId", shardId));
        writer.WriteTextString("StartingPosition");
        writer.WriteStartMap(null);
        Members(writer, ("Type", type));
        writer.WriteEndMap();
        writer.WriteEndMap();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(writer.Encode()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(Cbor);
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202.SubscribeToShard");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var response = await f.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("application/vnd.amazon.eventstream", response.Content.Headers.ContentType?.MediaType);
        await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
        var events = new List<EventMessage>();
        var seen = 0;
        while (seen < records)
        {
            var message = await ReadEventAsync(body, timeout.Token);
            Assert.NotNull(message);
            Assert.NotEqual("exception", message.HeaderString(":message-type"));
            events.Add(message);
            if (message.HeaderString(":event-type") == "SubscribeToShardEvent")
                seen += ((List<object?>)CborDocument.Read(message.Payload)["Records"]!).Count;
        }
        return events;
    }

    internal static async Task<EventMessage?> ReadEventAsync(Stream body, CancellationToken ct)
    {
        var prelude = new byte[4];
        if (await body.ReadAtLeastAsync(prelude, 4, throwOnEndOfStream: false, ct) < 4)
            return null;
        var message = new byte[EventStreamCodec.ReadTotalLength(prelude)];
        prelude.CopyTo(message, 0);
        await body.ReadExactlyAsync(message.AsMemory(4), ct);
        return EventStreamCodec.Decode(message);
    }

    private async Task<(int Status, Dictionary<string, object?> Body, string? ContentType)> CallAsync(string operation, Action<CborWriter> members)
    {
        var writer = new CborWriter();
        writer.WriteStartMap(null);
        members(writer);
        writer.WriteEndMap();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(writer.Encode()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(Cbor);
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await f.Http.SendAsync(request, TestContext.Current.CancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, CborDocument.Read(bytes), response.Content.Headers.ContentType?.MediaType);
    }

    private static void Members(CborWriter w, params (string Name, string Value)[] members)
    {
        foreach (var (name, value) in members)
        {
            w.WriteTextString(name);
            w.WriteTextString(value);
        }
    }
}
