using System.Diagnostics;
using Runnel.Core.Storage;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>
/// A smoke check of the hot paths under the durable policy. The floors are far below the targets (80,000 appends/s,
/// 130,000 reads/s of 1 KiB records) so a slow CI disk does not fail the build; the real numbers are printed.
/// </summary>
public sealed class ThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Durable_batched_appends_and_drains_are_fast()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var f = new StoreFixture();
        var shards = Enumerable.Range(0, 4).Select(i => new ShardRef(21, i)).ToArray();
        foreach (var s in shards)
            await f.Store.OpenShardAsync(s, 1, StoreFixture.Day, ct);
        var batch = Enumerable.Range(0, 500).Select(i => new AppendRecord($"key-{i}", StoreFixture.Filler(1024, i))).ToArray();
        const int batchesPerProducer = 40;

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(shards.Select(s => Task.Run(async () =>
        {
            for (var b = 0; b < batchesPerProducer; b++)
                await f.Store.AppendAsync(s, 1, batch, ct);
        }, ct)));
        var appendRate = shards.Length * batchesPerProducer * 500 / clock.Elapsed.TotalSeconds;

        clock.Restart();
        long read = 0;
        foreach (var s in shards)
        {
            ulong from = 0;
            while (true)
            {
                var result = await f.Store.ReadAsync(s, new ReadRequest(from, 10_000, 10 * 1024 * 1024), ct);
                if (result.Records.Count == 0)
                    break;
                read += result.Records.Count;
                from = result.NextOrdinal;
            }
        }
        var readRate = read / clock.Elapsed.TotalSeconds;
        output.WriteLine($"durable appends: {appendRate:N0} records/s; drain: {readRate:N0} records/s");

        Assert.Equal(shards.Length * batchesPerProducer * 500, read);
        Assert.True(appendRate > 10_000, $"append rate {appendRate:N0}/s");
        Assert.True(readRate > 20_000, $"read rate {readRate:N0}/s");
    }

    [Fact]
    public async Task A_single_sequential_producer_is_fast()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var f = new StoreFixture();
        var shard = new ShardRef(22, 0);
        await f.Store.OpenShardAsync(shard, 1, StoreFixture.Day, ct);
        var batch = Enumerable.Range(0, 500).Select(i => new AppendRecord($"key-{i}", StoreFixture.Filler(1024, i))).ToArray();

        var clock = Stopwatch.StartNew();
        for (var b = 0; b < 100; b++)
            await f.Store.AppendAsync(shard, 1, batch, ct);
        var rate = 100 * 500 / clock.Elapsed.TotalSeconds;
        output.WriteLine($"single producer durable appends: {rate:N0} records/s");

        Assert.True(rate > 10_000, $"append rate {rate:N0}/s");
    }
}
