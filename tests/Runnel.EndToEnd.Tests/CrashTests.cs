using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Runnel.EndToEnd.Tests.Cluster;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// kill -9 of a ShardStore node under continuous writes through Ingest, then a restart of the same
/// node (data directory, node id, port). Afterwards every acknowledged record is there exactly once,
/// at the sequence number it was acknowledged with and in order per shard; a record whose put failed
/// or timed out may be absent, but whatever is visible is whole.
/// </summary>
public sealed class CrashTests
{
    private const int Producers = 4;
    private const int KeysPerProducer = 4;
    private const int BatchSize = 25;

    // Each payload is its id followed by filler derived from the id, so a torn or mixed-up record
    // cannot pass for a whole one: "p{producer}:{n}:" + hex(SHA-256(id)) repeated to 300 bytes.
    private const int PayloadBytes = 300;

    [Fact]
    public async Task Acknowledged_records_survive_a_shardstore_kill_exactly_once_and_in_order()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await RunnelCluster.StartAsync(new ClusterOptions
        {
            // Small segments so the writes roll over segment files around the crash too.
            StoreArguments = ["--ShardStore:SegmentSizeBytes=65536"],
        }, ct);
        using var kinesis = new KinesisJsonClient(cluster.Endpoint);
        var stream = Names.Stream("crash");
        await kinesis.CreateStreamAsync(stream, 4, ct);
        var placements = await cluster.PlacementsAsync(stream, ct);
        Assert.Equal(4, placements.Count);
        var victim = cluster.StoreNodes.Single(n => n.Options.Name == RunnelCluster.NodeId(1));
        Assert.Contains(victim.Options.Name, placements.Values);

        var acked = new ConcurrentDictionary<string, (string ShardId, string Sequence)>();
        var lastAckByShard = new ConcurrentDictionary<string, long>();
        var failures = 0;
        var throttled = 0;
        var attempted = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var clock = Stopwatch.StartNew();

        async Task ProduceAsync(int producer)
        {
            // Its own client: a request cut by the crash must not stall the other producers' connections.
            using var client = new KinesisJsonClient(cluster.Endpoint, TimeSpan.FromSeconds(20));
            var next = 0;
            while (!stop.IsCancellationRequested)
            {
                var batch = new List<(string Key, byte[] Data, string Id)>(BatchSize);
                for (var i = 0; i < BatchSize; i++, next++)
                {
                    var id = $"p{producer}:{next}";
                    batch.Add(($"p{producer}-k{next % KeysPerProducer}", Payload(id), id));
                }

                Interlocked.Add(ref attempted, batch.Count);
                try
                {
                    var results = await client.PutRecordsAsync(stream, batch.Select(b => (b.Key, b.Data)).ToList(), CancellationToken.None);
                    for (var i = 0; i < results.Count; i++)
                    {
                        if (results[i].Succeeded)
                        {
                            acked[batch[i].Id] = (results[i].ShardId!, results[i].SequenceNumber!);
                            lastAckByShard[results[i].ShardId!] = clock.ElapsedMilliseconds;
                        }
                        else if (results[i].ErrorCode == "ProvisionedThroughputExceededException")
                        {
                            // Per-shard rate limits may refuse records at any time; that is not a fault.
                            Interlocked.Increment(ref throttled);
                        }
                        else
                        {
                            Interlocked.Increment(ref failures);
                        }
                    }
                }
                catch (Exception e) when (e is KinesisCallException or HttpRequestException or TaskCanceledException)
                {
                    // The whole request failed or timed out: none of its records is acknowledged.
                    Interlocked.Add(ref failures, batch.Count);
                    await Task.Delay(20, CancellationToken.None);
                }
            }
        }

        var producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() => ProduceAsync(p), CancellationToken.None)).ToArray();
        try
        {
            await Wait.UntilAsync(() => acked.Count >= 1000 || producers.Any(p => p.IsCompleted), TimeSpan.FromSeconds(60),
                "1,000 acknowledged records before the crash", cancellationToken: ct);
            Assert.Equal(0, failures);

            await victim.KillAsync();
            var killedAt = clock.ElapsedMilliseconds;
            // While the node is down, writes routed to its shards must fail (not hang, not succeed).
            await Wait.UntilAsync(() => Volatile.Read(ref failures) > 0, TimeSpan.FromSeconds(30),
                "a put to the killed node's shards to fail", cancellationToken: ct);

            await victim.StartAsync(ct);
            var restartedAt = clock.ElapsedMilliseconds;
            var shardIds = await kinesis.ShardIdsAsync(stream, ct);
            await Wait.UntilAsync(() => shardIds.All(s => lastAckByShard.TryGetValue(s, out var t) && t > restartedAt), TimeSpan.FromSeconds(60),
                "acknowledged writes to every shard after the restart", cancellationToken: ct);
            Assert.True(killedAt < restartedAt);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\nacked={acked.Count} failed={failures} throttled={throttled}\n{cluster.Describe()}");
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(producers);
        }

        var read = new Dictionary<string, (string ShardId, string Sequence)>();
        var report = new StringBuilder();
        foreach (var shardId in await kinesis.ShardIdsAsync(stream, ct))
        {
            var records = await kinesis.ReadAllAsync(stream, shardId, ct);
            UInt128 previous = 0;
            var lastPerKey = new Dictionary<string, int>();
            foreach (var record in records)
            {
                var sequence = UInt128.Parse(record.SequenceNumber, System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(sequence > previous, $"{shardId}: sequence {sequence} does not follow {previous}");
                previous = sequence;

                // Whole: the data is exactly the payload its id names, under the key its producer used.
                var id = Encoding.UTF8.GetString(record.Data.AsSpan(0, Math.Max(0, Array.IndexOf(record.Data, (byte)':', Array.IndexOf(record.Data, (byte)':') + 1))));
                Assert.True(id.Length > 0 && Payload(id).AsSpan().SequenceEqual(record.Data), $"{shardId}@{record.SequenceNumber}: a damaged record ({record.Data.Length} bytes)");
                var (producer, n) = ParseId(id);
                Assert.Equal($"p{producer}-k{n % KeysPerProducer}", record.PartitionKey);
                Assert.True(read.TryAdd(id, (shardId, record.SequenceNumber)), $"{id} is stored twice ({read.GetValueOrDefault(id)} and {shardId}@{record.SequenceNumber})");

                // One producer writes one key sequentially: its records keep their send order in the shard.
                if (lastPerKey.TryGetValue(record.PartitionKey, out var last))
                {
                    Assert.True(n > last, $"{shardId}: {id} stored after p{producer}:{last} of the same key");
                }

                lastPerKey[record.PartitionKey] = n;
            }

            report.Append($"{shardId}={records.Count} ");
        }

        var lost = acked.Where(a => !read.ContainsKey(a.Key)).Select(a => a.Key).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged record(s) lost, e.g. {string.Join(", ", lost.Take(5))}; read {report}");
        foreach (var (id, ack) in acked)
        {
            Assert.Equal(ack, read[id]);
        }

        // Records whose put failed may be stored or not; everything stored was at least attempted.
        Assert.InRange(read.Count, acked.Count, attempted);
        TestContext.Current.SendDiagnosticMessage(
            $"crash test: attempted {attempted}, acknowledged {acked.Count}, failed {failures}, throttled {throttled}, read {read.Count} ({report})");
    }

    private static byte[] Payload(string id)
    {
        var prefix = Encoding.UTF8.GetBytes(id + ":");
        var filler = Encoding.ASCII.GetBytes(Convert.ToHexString(SHA256.HashData(prefix)));
        var data = new byte[PayloadBytes];
        prefix.CopyTo(data, 0);
        for (var i = prefix.Length; i < data.Length; i++)
        {
            data[i] = filler[(i - prefix.Length) % filler.Length];
        }

        return data;
    }

    private static (int Producer, int N) ParseId(string id)
    {
        var parts = id[1..].Split(':');
        return (int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
    }
}
