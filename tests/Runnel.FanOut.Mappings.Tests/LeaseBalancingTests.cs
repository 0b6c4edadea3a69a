using System.Globalization;
using System.Text;
using Runnel.TestKit;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>
/// Mapping leases shared fairly between delivery replicas on PostgreSQL: each replica announces itself, takes free
/// leases up to <c>ceil(leases / replicas)</c> and steals one at a time from a replica above its share.
/// </summary>
public sealed class LeaseBalancingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Fast settings: a replica counts for 2 s after its last announcement, leases last 3 s, a steal every 500 ms.</summary>
    private static MappingOptions Fast() => new()
    {
        ScanIntervalMilliseconds = 200,
        LeaseSeconds = 3,
        WorkerExpirySeconds = 2,
        StealIntervalMilliseconds = 500,
        RetryBaseMilliseconds = 20,
        RetryMaxMilliseconds = 200,
    };

    private static async Task UntilSharesAsync(MappingCluster cluster, string uuid, IReadOnlyList<MappingWorker> workers, IReadOnlyList<int> expected, string what)
    {
        Dictionary<string, int> owners = [];
        try
        {
            await Wait.UntilAsync(async () =>
            {
                owners = await cluster.LeaseOwnersAsync(uuid);
                return owners.Count == expected.Count(e => e > 0)
                    && workers.Select((w, i) => owners.GetValueOrDefault(w.Owner) == expected[i] && w.Held == expected[i]).All(ok => ok);
            }, Patience, what, cancellationToken: Ct);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} Table: {string.Join(", ", owners.Select(o => $"{o.Key}={o.Value}"))}; " +
                $"delivering: {string.Join(", ", workers.Select(w => $"{w.Owner}={w.Held}"))}", e);
        }
    }

    [Fact]
    public async Task Three_replicas_share_six_shards_two_each()
    {
        await using var cluster = await MappingCluster.StartAsync(Fast());
        await using var receiver = await Receiver.StartAsync();
        await ThreeBalancedReplicasAsync(cluster, receiver, "balance-six");

        // Every shard is delivered by exactly one of them.
        Assert.Equal(Enumerable.Range(0, 6).Select(s => $"{s}:0"), receiver.Accepted.Select(Text).Order());
    }

    /// <summary>
    /// A mapping of a new 6-shard stream delivered by three replicas, once they hold two leases each and the first
    /// record of every shard (<c>"{shard}:0"</c>) has been delivered.
    /// </summary>
    private static async Task<(long StreamId, string Uuid, List<MappingWorker> Workers)> ThreeBalancedReplicasAsync(MappingCluster cluster, Receiver receiver, string stream)
    {
        var streamId = await cluster.CreateStreamAsync(stream, 6);
        var uuid = await cluster.CreateMappingAsync(new { EventSourceArn = Arn(stream), FunctionName = receiver.Url, StartingPosition = "TRIM_HORIZON" });
        var workers = new List<MappingWorker>();
        foreach (var name in new[] { "fanout-0", "fanout-1", "fanout-2" })
            workers.Add(await cluster.AddWorkerAsync(name));
        await UntilSharesAsync(cluster, uuid, workers, [2, 2, 2], "each of 3 replicas to hold 2 of the 6 leases");
        for (var shard = 0; shard < 6; shard++)
            await cluster.PutAsync(streamId, shard, [($"k{shard}", $"{shard}:0")]);
        await Wait.UntilAsync(() => receiver.Accepted.Count >= 6, Patience, "one record of each shard", cancellationToken: Ct);
        return (streamId, uuid, workers);
    }

    [Fact]
    public async Task Leases_of_a_replica_that_stops_announcing_itself_move_to_the_others()
    {
        await using var cluster = await MappingCluster.StartAsync(Fast());
        await using var receiver = await Receiver.StartAsync();
        var (streamId, uuid, workers) = await ThreeBalancedReplicasAsync(cluster, receiver, "balance-cut");

        // The third replica can no longer reach the metadata store: no announcement, no renewal.
        var gone = workers[2];
        gone.CutOff();
        var survivors = workers.Take(2).ToList();
        await Wait.UntilAsync(async () =>
        {
            var owners = await cluster.LeaseOwnersAsync(uuid);
            return owners.Count == 2 && survivors.All(w => owners.GetValueOrDefault(w.Owner) == 3 && w.Held == 3);
        }, Patience, "the two remaining replicas to hold 3 leases each", cancellationToken: Ct);

        // Delivery goes on on every shard, from the checkpoints.
        for (var shard = 0; shard < 6; shard++)
            await cluster.PutAsync(streamId, shard, [($"k{shard}", $"{shard}:1")]);
        await Wait.UntilAsync(() => receiver.Accepted.Count(r => Text(r).EndsWith(":1", StringComparison.Ordinal)) >= 6, Patience,
            "the second record of each shard", cancellationToken: Ct);
        Assert.Equal(Enumerable.Range(0, 6).SelectMany(s => new[] { $"{s}:0", $"{s}:1" }).Order(), receiver.Accepted.Select(Text).Distinct().Order());
    }

    [Fact]
    public async Task A_joining_replica_steals_its_share_and_delivery_stays_complete_and_ordered_per_key()
    {
        const int shards = 4, keys = 12, perKey = 200;
        const int total = keys * perKey;
        await using var cluster = await MappingCluster.StartAsync(Fast());
        var streamId = await cluster.CreateStreamAsync("balance-join", shards);
        await using var receiver = await Receiver.StartAsync();
        // Slow batches, and once half the records are in, a pause until the second replica holds its share: the
        // leases move while every shard is mid-delivery.
        using var balanced = new ManualResetEventSlim();
        receiver.Respond = _ =>
        {
            Thread.Sleep(10);
            if (receiver.Accepted.Count >= total / 2)
                balanced.Wait(TimeSpan.FromSeconds(60));
            return Answer.Ok;
        };
        var uuid = await cluster.CreateMappingAsync(new { EventSourceArn = Arn("balance-join"), FunctionName = receiver.Url, StartingPosition = "TRIM_HORIZON", BatchSize = 10 });
        var first = await cluster.AddWorkerAsync("fanout-0");
        await UntilSharesAsync(cluster, uuid, [first], [shards], "the only replica to hold every lease");

        // Key k lives on shard k % 4; its records are put in order.
        for (var n = 0; n < perKey; n += 50)
        {
            for (var shard = 0; shard < shards; shard++)
            {
                var batch = Enumerable.Range(n, 50).SelectMany(i => Enumerable.Range(0, keys).Where(k => k % shards == shard).Select(k => ($"key-{k}", $"{k}:{i}")));
                await cluster.PutAsync(streamId, shard, batch);
            }
        }
        await Wait.UntilAsync(() => receiver.Accepted.Count >= total / 4, Patience, "a quarter of the records before the second replica starts", cancellationToken: Ct);

        var second = await cluster.AddWorkerAsync("fanout-1");
        await UntilSharesAsync(cluster, uuid, [first, second], [2, 2], "the two replicas to hold 2 leases each");
        var atBalance = receiver.Accepted.Count;
        balanced.Set();

        await Wait.UntilAsync(() => receiver.Accepted.Select(Text).Distinct().Count() >= total, Patience, $"all {total} records", cancellationToken: Ct);
        Assert.True(atBalance < total, "the leases should have moved while records were still being delivered");
        var arrivals = receiver.Accepted.Select(r => Text(r).Split(':')).Select(p => (Key: p[0], N: int.Parse(p[1], CultureInfo.InvariantCulture))).ToList();
        foreach (var group in arrivals.GroupBy(a => a.Key))
        {
            // In arrival order a key's records never skip ahead: each is a repeat (redelivery around the handover) or
            // the next one, so every record arrives at least once and in order.
            var highest = -1;
            foreach (var (_, n) in group)
            {
                Assert.True(n <= highest + 1, $"key {group.Key}: record {n} arrived before record {highest + 1}");
                highest = Math.Max(highest, n);
            }
            Assert.Equal(Enumerable.Range(0, perKey), group.Select(a => a.N).Distinct());
        }
        Assert.Equal(keys, arrivals.Select(a => a.Key).Distinct().Count());
        // Both replicas keep their share once the records are through.
        await UntilSharesAsync(cluster, uuid, [first, second], [2, 2], "the shares to hold after delivery");
        TestContext.Current.TestOutputHelper?.WriteLine($"{atBalance} of {total} records delivered when balanced; {arrivals.Count - total} repeated");
    }

    private static string Arn(string stream) => KinesisClient.StreamArn(stream);

    private static string Text(ReceivedRecord r) => Encoding.UTF8.GetString(Convert.FromBase64String(r.Data));
}
