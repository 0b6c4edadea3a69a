using System.Text;
using Runnel.Core.Storage;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>Appends, reads and the segment files with their indexes: ordinals, limits, arrival times.</summary>
public sealed class ShardLogSegmentTests
{
    private static readonly ShardRef Shard = new(7, 0);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Appended_records_read_back_with_consecutive_ordinals()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);

        var first = await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(3, "a"), Ct);
        var second = await f.Store.AppendAsync(Shard, 1, [StoreFixture.Record("ключ", "ünïcode")], Ct);

        Assert.Equal(new AppendResult(0, 3, f.Time.GetUtcNow().ToUnixTimeMilliseconds()), first);
        Assert.Equal(3UL, second.FirstOrdinal);
        var read = await f.Store.ReadAsync(Shard, new ReadRequest(0, 100, 1 << 20), Ct);
        Assert.Equal([0UL, 1, 2, 3], read.Records.Select(r => r.Ordinal));
        Assert.Equal("a-2", Encoding.UTF8.GetString(read.Records[2].Data.Span));
        Assert.Equal("pk-2", read.Records[2].PartitionKey);
        Assert.Equal("ключ", read.Records[3].PartitionKey);
        Assert.Equal("ünïcode", Encoding.UTF8.GetString(read.Records[3].Data.Span));
        Assert.Equal(4UL, read.NextOrdinal);
        Assert.False(read.EndOfShard);
        Assert.Equal(0, read.MillisBehindLatest);
        var state = await f.Store.GetStateAsync(Shard, Ct);
        Assert.Equal(new ShardState(Shard, 1, 0, 4, null, first.ArrivalUnixMs), state);
    }

    [Fact]
    public async Task Opening_twice_is_idempotent_and_unknown_shards_are_not_found()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(2), Ct);
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);

        Assert.Equal(2UL, (await f.Store.GetStateAsync(Shard, Ct)).NextOrdinal);
        var missing = new ShardRef(99, 3);
        await Assert.ThrowsAsync<ShardNotFoundException>(() => f.Store.ReadAsync(missing, new ReadRequest(0, 10, 1000), Ct));
        await Assert.ThrowsAsync<ShardNotFoundException>(() => f.Store.AppendAsync(missing, 1, StoreFixture.Batch(1), Ct));
        await Assert.ThrowsAsync<ShardNotFoundException>(() => f.Store.GetStateAsync(missing, Ct));
    }

    [Fact]
    public async Task Reads_honour_record_and_byte_limits_but_always_return_the_first_record()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(10, size: 1000), Ct);

        var byCount = await f.Store.ReadAsync(Shard, new ReadRequest(2, 3, 1 << 20), Ct);
        Assert.Equal([2UL, 3, 4], byCount.Records.Select(r => r.Ordinal));
        Assert.Equal(5UL, byCount.NextOrdinal);

        // Each record is 1,000 data bytes + a 4-byte key: 2,500 bytes hold two of them.
        var byBytes = await f.Store.ReadAsync(Shard, new ReadRequest(0, 100, 2500), Ct);
        Assert.Equal(2, byBytes.Records.Count);
        var tiny = await f.Store.ReadAsync(Shard, new ReadRequest(0, 100, 10), Ct);
        Assert.Single(tiny.Records);
        Assert.Equal(StoreFixture.Filler(1000, 0), tiny.Records[0].Data.ToArray());
    }

    [Fact]
    public async Task Reads_at_an_ordinal_use_the_index_across_rolled_segments()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 16 * 1024, IndexIntervalBytes = 1024 });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        for (var i = 0; i < 20; i++)
            await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(10, $"b{i}", size: 300), Ct);

        Assert.True(f.SegmentFiles(Shard).Length >= 5, "200 records of ~330 bytes must span several 16 KiB segments");
        foreach (var at in new ulong[] { 0, 1, 47, 48, 49, 123, 199 })
        {
            var read = await f.Store.ReadAsync(Shard, new ReadRequest(at, 5, 1 << 20), Ct);
            Assert.Equal(at, read.Records[0].Ordinal);
            Assert.Equal(StoreFixture.Filler(300, (int)(at % 10)), read.Records[0].Data.ToArray());
        }
        var all = await f.ReadAllAsync(Shard);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (ulong)i), all.Select(r => r.Ordinal));
        var beyond = await f.Store.ReadAsync(Shard, new ReadRequest(500, 5, 1 << 20), Ct);
        Assert.Empty(beyond.Records);
        Assert.Equal(500UL, beyond.NextOrdinal);
    }

    [Fact]
    public async Task Finds_ordinals_by_arrival_time()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 8 * 1024, IndexIntervalBytes = 512 });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        var start = f.Time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 0; i < 50; i++)
        {
            await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(4, size: 200), Ct);
            f.Time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(0UL, await f.Store.FindOrdinalAsync(Shard, start - 1000, Ct));
        Assert.Equal(0UL, await f.Store.FindOrdinalAsync(Shard, start, Ct));
        Assert.Equal(4UL, await f.Store.FindOrdinalAsync(Shard, start + 1, Ct));
        Assert.Equal(120UL, await f.Store.FindOrdinalAsync(Shard, start + 30_000, Ct));
        Assert.Equal(124UL, await f.Store.FindOrdinalAsync(Shard, start + 30_500, Ct));
        Assert.Equal(200UL, await f.Store.FindOrdinalAsync(Shard, start + 999_000, Ct));

        var old = await f.Store.ReadAsync(Shard, new ReadRequest(0, 4, 1 << 20), Ct);
        Assert.Equal(50_000, old.MillisBehindLatest);
    }

    [Fact]
    public async Task Arrival_times_never_go_backwards_when_the_clock_does()
    {
        var clock = new SteppingClock { Now = DateTimeOffset.UnixEpoch.AddYears(56) };
        await using var f = new StoreFixture(o => o with { TimeProvider = clock });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        var first = await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct);
        clock.Now -= TimeSpan.FromMinutes(5);
        var second = await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct);
        Assert.Equal(first.ArrivalUnixMs, second.ArrivalUnixMs);
    }

    [Fact]
    public async Task Concurrent_appenders_to_one_shard_get_a_total_order()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 64 * 1024 });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        const int writers = 8, batches = 25, perBatch = 10;

        var results = await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var mine = new List<AppendResult>();
            for (var b = 0; b < batches; b++)
            {
                var records = Enumerable.Range(0, perBatch).Select(i => StoreFixture.Record($"w{w}", $"{w}:{b}:{i}")).ToArray();
                mine.Add(await f.Store.AppendAsync(Shard, 1, records, Ct));
            }
            return mine;
        }, Ct)));

        var ordinals = results.SelectMany(r => r).SelectMany(r => Enumerable.Range(0, r.Count).Select(i => r.FirstOrdinal + (ulong)i)).Order().ToList();
        Assert.Equal(Enumerable.Range(0, writers * batches * perBatch).Select(i => (ulong)i), ordinals);
        var all = await f.ReadAllAsync(Shard);
        Assert.Equal(writers * batches * perBatch, all.Count);
        for (var w = 0; w < writers; w++)
        {
            var expected = Enumerable.Range(0, batches).SelectMany(b => Enumerable.Range(0, perBatch).Select(i => $"{w}:{b}:{i}"));
            Assert.Equal(expected, all.Where(r => r.PartitionKey == $"w{w}").Select(r => Encoding.UTF8.GetString(r.Data.Span)));
        }
        for (var i = 0; i < all.Count; i++)
            Assert.Equal((ulong)i, all[i].Ordinal);
    }

    [Fact]
    public async Task Cancelled_appends_never_write()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(3), cancelled.Token));
        Assert.Equal(0UL, (await f.Store.GetStateAsync(Shard, Ct)).NextOrdinal);
    }

    [Fact]
    public async Task Large_records_span_read_chunks()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        var big = StoreFixture.Filler(1024 * 1024, 42);
        await f.Store.AppendAsync(Shard, 1, [new AppendRecord("big", big), StoreFixture.Record("small", "x"), new AppendRecord("big2", big)], Ct);

        var all = await f.ReadAllAsync(Shard);
        Assert.Equal(3, all.Count);
        Assert.Equal(big, all[0].Data.ToArray());
        Assert.Equal("x", Encoding.UTF8.GetString(all[1].Data.Span));
        Assert.Equal(big, all[2].Data.ToArray());
    }

    private sealed class SteppingClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
