using Microsoft.Extensions.Options;
using Runnel.Ingest.Throttling;
using StackExchange.Redis;

namespace Runnel.Ingest.Capacity;

/// <summary>One shard's write traffic over the report window and its heaviest partition keys.</summary>
public sealed record ShardHeat(int ShardIndex, double BytesPerSecond, double RecordsPerSecond, double Use, long ThrottledRecords, IReadOnlyList<KeyWeight> Keys, int Seconds);

/// <summary>
/// Answers "why is this shard hot": the shard's offered write rate over <see cref="CapacityOptions.HotKeyWindow"/>
/// (every replica's counts, from the shared store) and its top partition keys by bytes, merged from every
/// replica's per-interval top-N. Key bytes are upper-bound estimates of the space-saving sketch.
/// </summary>
public sealed class HotKeyReporter(
    ITrafficStore store, IThroughputLimiter limiter, IOptionsMonitor<ThrottlingOptions> throttling, IOptions<CapacityOptions> options, TimeProvider time)
{
    public int WindowSeconds => (int)Math.Ceiling(options.Value.HotKeyWindow.TotalSeconds);

    /// <summary>The hot shards for DescribeStreamSummary: none when the shared store cannot be read, so the summary never fails for it.</summary>
    public async Task<List<ShardHeat>> HotShardsOrNoneAsync(long streamId, string streamName, IEnumerable<int> shards, int keys, CancellationToken ct)
    {
        try
        {
            return await ReportAsync(streamId, streamName, shards, onlyHot: true, keys, ct);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return [];
        }
    }

    /// <param name="onlyHot">Leave out shards below <see cref="CapacityOptions.HotShardThreshold"/> of their write limit.</param>
    public async Task<List<ShardHeat>> ReportAsync(long streamId, string streamName, IEnumerable<int> shards, bool onlyHot, int keys, CancellationToken ct)
    {
        var seconds = WindowSeconds;
        var from = time.GetUtcNow().ToUnixTimeSeconds() - seconds;
        var traffic = await store.ReadAsync(streamId, from, seconds, ct);
        var s0 = throttling.CurrentValue.Shard;
        var limits = limiter.LimitsFor(streamName) ?? new EffectiveShardLimits(s0.WriteBytesPerSecond, s0.WriteRecordsPerSecond,
            s0.ReadBytesPerSecond, s0.GetRecordsPerSecond, s0.GetShardIteratorPerSecond, s0.LargeReadBytes, s0.LargeReadPenalty);
        var result = new List<ShardHeat>();
        foreach (var shard in shards)
        {
            var load = ScalingPolicy.Measure(shard, traffic.Of(shard), 0, limits);
            if (onlyHot && (load.Average < options.Value.HotShardThreshold || load.BytesPerSecond == 0))
                continue;
            var top = await store.HotKeysAsync(streamId, shard, from, seconds, keys, ct);
            result.Add(new ShardHeat(shard, load.BytesPerSecond, load.RecordsPerSecond, load.Average, load.ThrottledRecords, top, seconds));
        }
        return result;
    }
}
