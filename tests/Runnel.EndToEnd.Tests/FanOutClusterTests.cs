using System.Collections.Concurrent;
using System.Formats.Cbor;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Runnel.EndToEnd.Tests.Cluster;
using Runnel.FanOut.EventStream;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Enhanced fan-out deployed: two ShardStore nodes, Ingest and two FanOut replicas as separate processes over
/// PostgreSQL, the replicas sharing the real Redis. Clients talk only to Ingest's public port, which forwards the
/// consumer operations (JSON and CBOR) to a FanOut replica and streams its event stream back.
/// </summary>
public sealed class FanOutClusterTests(FanOutClusterTests.Fixture fixture) : IClassFixture<FanOutClusterTests.Fixture>
{
    private const string Cbor = "application/x-amz-cbor-1.1";

    public sealed class Fixture : IAsyncLifetime
    {
        private RunnelCluster? _cluster;

        public RunnelCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster did not start.");

        public async ValueTask InitializeAsync() =>
            _cluster = await RunnelCluster.StartAsync(new ClusterOptions
            {
                FanOutReplicas = 2,
                FanOutArguments = [$"--ConnectionStrings:Redis={await TestServers.RedisAsync()}"],
            }, TestContext.Current.CancellationToken);

        public async ValueTask DisposeAsync()
        {
            if (_cluster is not null)
                await _cluster.DisposeAsync();
        }
    }

    private RunnelCluster Cluster => fixture.Cluster;

    [Fact]
    public Task Sdk_v3_registers_and_subscribes_through_the_public_port() =>
        JavaScriptSdkTests.RunAsync(Cluster.Endpoint, Cluster.Describe, "fanout.test.mjs");

    [Fact]
    public async Task A_cbor_subscriber_gets_every_record_once_in_order_across_a_kill_and_restart_of_the_shard_owner()
    {
        var ct = TestContext.Current.CancellationToken;
        using var kinesis = new KinesisJsonClient(Cluster.Endpoint, TimeSpan.FromSeconds(20));
        var stream = Names.Stream("efo-crash");
        await kinesis.CreateStreamAsync(stream, 1, ct);
        var owner = (await Cluster.PlacementsAsync(stream, ct))[0];
        var victim = Cluster.StoreNodes.Single(n => n.Options.Name == owner);
        var streamArn = (await kinesis.CallAsync("DescribeStreamSummary", new JsonObject { ["StreamName"] = stream }, ct))
            ["StreamDescriptionSummary"]!["StreamARN"]!.GetValue<string>();

        // Consumer registration in CBOR through Ingest: forwarded to FanOut and answered in CBOR.
        using var http = TestCredentials.SignedClient(Cluster.Endpoint, Timeout.InfiniteTimeSpan);
        var registered = await CborCallAsync(http, "RegisterStreamConsumer", w => Members(w, ("StreamARN", streamArn), ("ConsumerName", "java")), ct);
        Assert.True(registered.Status == 200, $"{registered.Status} {string.Join(",", registered.Body)}\n{Cluster.Describe()}");
        var consumerArn = (string)((Dictionary<string, object?>)registered.Body["Consumer"]!)["ConsumerARN"]!;
        await Wait.UntilAsync(async () =>
        {
            var d = await CborCallAsync(http, "DescribeStreamConsumer", w => Members(w, ("ConsumerARN", consumerArn)), ct);
            return d.Status == 200 && (string?)((Dictionary<string, object?>)d.Body["ConsumerDescription"]!)["ConsumerStatus"] == "ACTIVE";
        }, TimeSpan.FromSeconds(30), "the consumer to become ACTIVE", TimeSpan.FromMilliseconds(200), ct);

        // One subscription for the whole test: FanOut must carry it across the owner's death and return.
        var received = new ConcurrentQueue<(string Seq, string Data)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var subscription = await SubscribeAsync(http, consumerArn, "shardId-000000000000", "TRIM_HORIZON", Cbor, stop.Token);
        var reader = Task.Run(async () =>
        {
            await foreach (var e in subscription.Events(stop.Token))
            {
                Assert.True(e.HeaderString(":message-type") == "event", $"the subscription failed: {e.HeaderString(":exception-type")} {Encoding.UTF8.GetString(e.Payload.Span)}");
                if (e.HeaderString(":event-type") != "SubscribeToShardEvent")
                    continue;
                foreach (var r in ((List<object?>)CborDocument.Read(e.Payload)["Records"]!).Cast<Dictionary<string, object?>>())
                    received.Enqueue(((string)r["SequenceNumber"]!, Encoding.UTF8.GetString((byte[])r["Data"]!)));
            }
            throw new InvalidOperationException("The subscription ended before the test did.");
        }, CancellationToken.None);

        var acked = new ConcurrentDictionary<string, string>();
        var failed = 0;
        var next = 0;
        async Task ProduceAsync(int count)
        {
            for (var i = 0; i < count; i++, next++)
            {
                var data = $"r-{next}";
                try
                {
                    var result = (await kinesis.PutRecordsAsync(stream, [("k", Encoding.UTF8.GetBytes(data))], ct))[0];
                    if (result.Succeeded)
                        acked[result.SequenceNumber!] = data;
                    else
                        failed++;
                }
                catch (Exception e) when (e is KinesisCallException or HttpRequestException or TaskCanceledException)
                {
                    failed++;
                }
            }
        }

        try
        {
            await ProduceAsync(40);
            await Wait.UntilAsync(() => received.Count >= 40 || reader.IsCompleted, TimeSpan.FromSeconds(30), "40 records pushed before the crash", cancellationToken: ct);
            Assert.False(reader.IsCompleted, reader.Exception?.ToString());

            await victim.KillAsync();
            await ProduceAsync(5); // refused while the owner is down
            await victim.StartAsync(ct);
            var before = acked.Count;
            await Wait.UntilAsync(async () =>
            {
                await ProduceAsync(5);
                return acked.Count >= before + 40;
            }, TimeSpan.FromSeconds(90), "40 acknowledged records after the restart", TimeSpan.FromMilliseconds(50), ct);

            // Every acknowledged record reaches the subscriber, which never reconnected.
            await Wait.UntilAsync(() => acked.Keys.All(k => received.Any(r => r.Seq == k)) || reader.IsCompleted,
                TimeSpan.FromSeconds(60), "every acknowledged record pushed", cancellationToken: ct);
            Assert.False(reader.IsCompleted, reader.Exception?.ToString());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\nacked={acked.Count} failed={failed} received={received.Count}\n{Cluster.Describe()}");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAny(reader);
            subscription.Dispose();
        }

        // Once each, in order, no gap: what was pushed is exactly the shard's content (records whose put timed
        // out around the crash may be stored; then they are pushed too).
        var stored = await kinesis.ReadAllAsync(stream, "shardId-000000000000", ct);
        var pushed = received.ToList();
        Assert.Equal(stored.Select(r => (r.SequenceNumber, Encoding.UTF8.GetString(r.Data))), pushed.Take(stored.Count));
        Assert.Equal(stored.Count, pushed.Count);
        Assert.Equal(pushed.Select(p => BigInteger(p.Seq)).Order(), pushed.Select(p => BigInteger(p.Seq)));
        Assert.Equal(pushed.Count, pushed.Select(p => p.Seq).Distinct().Count());
        foreach (var (seq, data) in acked)
            Assert.Contains((seq, data), pushed);
        Assert.True(failed > 0, "no put failed while the owner was down");
        // The subscription went through the failover path (not a fresh subscription).
        Assert.Contains("re-resolving the owner", Cluster.FanOuts[0].Output);
    }

    [Fact]
    public async Task Two_replicas_keep_one_subscription_per_consumer_and_shard()
    {
        var ct = TestContext.Current.CancellationToken;
        using var kinesis = new KinesisJsonClient(Cluster.Endpoint);
        var stream = Names.Stream("efo-replicas");
        await kinesis.CreateStreamAsync(stream, 1, ct);
        var streamArn = (await kinesis.CallAsync("DescribeStreamSummary", new JsonObject { ["StreamName"] = stream }, ct))
            ["StreamDescriptionSummary"]!["StreamARN"]!.GetValue<string>();
        var consumerArn = (await kinesis.CallAsync("RegisterStreamConsumer", new JsonObject { ["StreamARN"] = streamArn, ["ConsumerName"] = "c" }, ct))
            ["Consumer"]!["ConsumerARN"]!.GetValue<string>();
        await Wait.UntilAsync(async () =>
            (await kinesis.CallAsync("DescribeStreamConsumer", new JsonObject { ["ConsumerARN"] = consumerArn }, ct))
                ["ConsumerDescription"]!["ConsumerStatus"]!.GetValue<string>() == "ACTIVE",
            TimeSpan.FromSeconds(30), "the consumer to become ACTIVE", TimeSpan.FromMilliseconds(200), ct);

        // Each replica addressed directly on its internal route, as two Ingest replicas' forwards could land.
        using var one = new HttpClient { BaseAddress = Cluster.FanOutInternalAddresses[0], Timeout = Timeout.InfiniteTimeSpan, DefaultRequestHeaders = { { InternalListener.TokenHeader, InternalListener.Token } } };
        using var two = new HttpClient { BaseAddress = Cluster.FanOutInternalAddresses[1], Timeout = Timeout.InfiniteTimeSpan, DefaultRequestHeaders = { { InternalListener.TokenHeader, InternalListener.Token } } };
        using var first = await SubscribeAsync(one, consumerArn, "shardId-000000000000", "LATEST", "application/x-amz-json-1.1", ct, "v1/fanout/kinesis");
        var refused = await TrySubscribeAsync(two, consumerArn, ct);
        Assert.Equal(400, refused.Status);
        Assert.Contains("ResourceInUseException", refused.Body);

        using var firstEvents = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var firstEnd = Task.Run(async () =>
        {
            await foreach (var e in first.Events(firstEvents.Token))
                if (e.HeaderString(":message-type") == "exception")
                    return e.HeaderString(":exception-type");
            return "(ended without an exception)";
        }, CancellationToken.None);

        Subscription? second = null;
        await Wait.UntilAsync(async () =>
        {
            var attempt = await TrySubscribeAsync(two, consumerArn, ct);
            second = attempt.Subscription;
            return attempt.Status == 200;
        }, TimeSpan.FromSeconds(15), "the takeover window to pass", TimeSpan.FromMilliseconds(250), ct);
        using (second)
        {
            var ended = await firstEnd.WaitAsync(TimeSpan.FromSeconds(5), ct);
            Assert.Equal("ResourceInUseException", ended);
        }
        await firstEvents.CancelAsync();
    }

    private static async Task<(int Status, string Body, Subscription? Subscription)> TrySubscribeAsync(HttpClient http, string consumerArn, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["ConsumerARN"] = consumerArn,
            ["ShardId"] = "shardId-000000000000",
            ["StartingPosition"] = new JsonObject { ["Type"] = "LATEST" },
        }.ToJsonString();
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/fanout/kinesis") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202.SubscribeToShard");
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if ((int)response.StatusCode == 200)
            return (200, "", new Subscription(response, await response.Content.ReadAsStreamAsync(ct)));
        var text = await response.Content.ReadAsStringAsync(ct);
        response.Dispose();
        return ((int)response.StatusCode, text, null);
    }

    /// <summary>An open event stream; events are read one message at a time.</summary>
    private sealed class Subscription(HttpResponseMessage response, Stream body) : IDisposable
    {
        public async IAsyncEnumerable<EventMessage> Events([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
        {
            var prelude = new byte[4];
            while (true)
            {
                int read;
                try
                {
                    read = await body.ReadAtLeastAsync(prelude, 4, throwOnEndOfStream: false, ct);
                }
                catch (Exception) when (ct.IsCancellationRequested)
                {
                    yield break;
                }
                if (read < 4)
                    yield break;
                var message = new byte[EventStreamCodec.ReadTotalLength(prelude)];
                prelude.CopyTo(message, 0);
                await body.ReadExactlyAsync(message.AsMemory(4), ct);
                yield return EventStreamCodec.Decode(message);
            }
        }

        public void Dispose()
        {
            body.Dispose();
            response.Dispose();
        }
    }

    private static async Task<Subscription> SubscribeAsync(HttpClient http, string consumerArn, string shardId, string type, string contentType, CancellationToken ct, string path = "/")
    {
        byte[] body;
        if (contentType == Cbor)
        {
            var w = new CborWriter();
            w.WriteStartMap(null);
            Members(w, ("ConsumerARN", consumerArn), ("ShardId", shardId));
            w.WriteTextString("StartingPosition");
            w.WriteStartMap(null);
            Members(w, ("Type", type));
            w.WriteEndMap();
            w.WriteEndMap();
            body = w.Encode();
        }
        else
        {
            body = Encoding.UTF8.GetBytes(new JsonObject
            {
                ["ConsumerARN"] = consumerArn,
                ["ShardId"] = shardId,
                ["StartingPosition"] = new JsonObject { ["Type"] = type },
            }.ToJsonString());
        }
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202.SubscribeToShard");
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if ((int)response.StatusCode != 200)
            throw new Xunit.Sdk.XunitException($"SubscribeToShard answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        Assert.Equal("application/vnd.amazon.eventstream", response.Content.Headers.ContentType?.MediaType);
        return new Subscription(response, await response.Content.ReadAsStreamAsync(ct));
    }

    private static async Task<(int Status, Dictionary<string, object?> Body)> CborCallAsync(HttpClient http, string operation, Action<CborWriter> members, CancellationToken ct)
    {
        var w = new CborWriter();
        w.WriteStartMap(null);
        members(w);
        w.WriteEndMap();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(w.Encode()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(Cbor);
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await http.SendAsync(request, ct);
        Assert.Equal(Cbor, response.Content.Headers.ContentType?.MediaType);
        return ((int)response.StatusCode, CborDocument.Read(await response.Content.ReadAsByteArrayAsync(ct)));
    }

    private static void Members(CborWriter w, params (string Name, string Value)[] members)
    {
        foreach (var (name, value) in members)
        {
            w.WriteTextString(name);
            w.WriteTextString(value);
        }
    }

    private static System.Numerics.BigInteger BigInteger(string s) => System.Numerics.BigInteger.Parse(s, CultureInfo.InvariantCulture);
}
