using System.Globalization;
using Runnel.Core.Streams;
using Runnel.Ingest.Resharding;
using Runnel.Ingest.Throttling;

namespace Runnel.Ingest.Capacity;

/// <summary>
/// One shard's write load over the window, as a share of its limit: the higher of bytes and records, offered
/// (accepted plus throttled) because throttled writes are demand the shard could not take.
/// </summary>
public sealed record ShardLoad(int ShardIndex, double Average, double Peak, double BytesPerSecond, double RecordsPerSecond, long ThrottledRecords, int Seconds);

/// <summary>What the scaler decided for one stream.</summary>
public sealed record ScalingDecision(string Action, IReadOnlyDictionary<int, int> Splits, IReadOnlyList<(int Shard, int Adjacent)> Merges, string Reason);

/// <summary>
/// The rules of on-demand scaling, without I/O. Up: every shard whose average load over the window reaches
/// <see cref="CapacityOptions.ScaleUpThreshold"/> splits into enough halves to carry <see cref="CapacityOptions.Headroom"/>
/// times its peak (at least 2, at most <see cref="CapacityOptions.MaxSplitPerShard"/>), all in one decision. Down:
/// only when no shard is hot, adjacent pairs whose combined average stays under
/// <see cref="CapacityOptions.ScaleDownThreshold"/> and whose combined peak times the headroom fits one shard
/// merge, never below the starting shard count.
/// </summary>
public static class ScalingPolicy
{
    public const string ScaleUp = "ScaleUp";
    public const string ScaleDown = "ScaleDown";

    /// <summary>
    /// Measures one shard over the seconds of <paramref name="series"/> from <paramref name="first"/> on (a
    /// younger shard has no traffic before it opened). The peak is the highest two-second average, which evens
    /// out replicas' flushes landing one second early or late.
    /// </summary>
    public static ShardLoad Measure(int shardIndex, ShardSecond[] series, int first, EffectiveShardLimits limits)
    {
        var seconds = series.Length - first;
        if (seconds <= 0)
            return new ShardLoad(shardIndex, 0, 0, 0, 0, 0, 0);
        double Use(ShardSecond s) => Math.Max(
            limits.WriteBytesPerSecond > 0 ? (double)s.OfferedBytes / limits.WriteBytesPerSecond : 0,
            limits.WriteRecordsPerSecond > 0 ? (double)s.OfferedRecords / limits.WriteRecordsPerSecond : 0);
        long bytes = 0, records = 0, throttled = 0;
        double peak = 0, previous = 0;
        for (var i = first; i < series.Length; i++)
        {
            bytes += series[i].OfferedBytes;
            records += series[i].OfferedRecords;
            throttled += series[i].ThrottledRecords;
            var use = Use(series[i]);
            peak = Math.Max(peak, i == first ? use : (use + previous) / 2);
            previous = use;
        }
        var total = new ShardSecond(bytes, records, 0, 0);
        return new ShardLoad(shardIndex, Use(total) / seconds, peak, (double)bytes / seconds, (double)records / seconds, throttled, seconds);
    }

    /// <param name="open">Open shards in hash-key order with their loads.</param>
    /// <param name="minimumShards">The stream's starting capacity: merges never go below it.</param>
    /// <param name="quietEnough">The stream has had merge candidates for the whole quiet period.</param>
    public static ScalingDecision? Decide(IReadOnlyList<ShardLoad> open, CapacityOptions o, int minimumShards, bool quietEnough)
    {
        var splits = new Dictionary<int, int>();
        foreach (var s in open)
        {
            if (s.Average < o.ScaleUpThreshold)
                continue;
            var pieces = 2;
            while (pieces < o.MaxSplitPerShard && pieces < s.Peak * o.Headroom)
                pieces *= 2;
            splits[s.ShardIndex] = Math.Min(pieces, o.MaxSplitPerShard);
        }
        if (splits.Count > 0)
        {
            var hot = open.Where(s => splits.ContainsKey(s.ShardIndex)).Select(s => string.Create(CultureInfo.InvariantCulture,
                $"{ShardIds.Format(s.ShardIndex)} at {s.Average:P0} of its write limit on average, peak {s.Peak:P0} -> {splits[s.ShardIndex]} shards"));
            return new ScalingDecision(ScaleUp, splits, [], "hot shards: " + string.Join("; ", hot));
        }

        var candidates = MergeCandidates(open, o);
        if (candidates.Count == 0 || !quietEnough)
            return null;
        var room = open.Count - minimumShards;
        if (room <= 0)
            return null;
        var merges = candidates.Take(room).ToList();
        return new ScalingDecision(ScaleDown, new Dictionary<int, int>(), merges, string.Create(CultureInfo.InvariantCulture,
            $"{merges.Count} pair(s) of adjacent shards below {o.ScaleDownThreshold:P0} of one shard's write limit together for the quiet period"));
    }

    /// <summary>Disjoint adjacent pairs, left to right, that one shard could carry with headroom.</summary>
    public static List<(int Shard, int Adjacent)> MergeCandidates(IReadOnlyList<ShardLoad> open, CapacityOptions o)
    {
        var pairs = new List<(int, int)>();
        for (var i = 0; i + 1 < open.Count; i++)
        {
            var (a, b) = (open[i], open[i + 1]);
            if (a.Average + b.Average < o.ScaleDownThreshold && (a.Peak + b.Peak) * o.Headroom <= 1.0)
            {
                pairs.Add((a.ShardIndex, b.ShardIndex));
                i++;
            }
        }
        return pairs;
    }

    /// <summary>
    /// The plan of a decision on the open shards as they are now, or null when a shard it names is no longer
    /// open or two merged shards are no longer adjacent. Splits halve at the middle of the range, one round per
    /// halving; merges are one round.
    /// </summary>
    public static ReshardPlan? PlanFor(ScalingDecision decision, IReadOnlyList<OpenShard> open, int firstIndex)
    {
        var byIndex = open.ToDictionary(s => s.Index);
        var next = firstIndex;
        var rounds = new List<ReshardRound>();
        if (decision.Action == ScaleUp)
        {
            var pieces = new List<(OpenShard Shard, int Remaining)>();
            foreach (var (index, count) in decision.Splits)
            {
                if (!byIndex.TryGetValue(index, out var shard))
                    return null;
                pieces.Add((shard, count));
            }
            while (pieces.Any(p => p.Remaining > 1))
            {
                var children = new List<ReshardChild>();
                var after = new List<(OpenShard, int)>();
                foreach (var (shard, remaining) in pieces)
                {
                    if (remaining <= 1 || shard.Range.End == shard.Range.Start)
                        continue;
                    var cut = shard.Range.Start + (shard.Range.End - shard.Range.Start) / 2 + 1;
                    var low = new ReshardChild(next++, Text(shard.Range.Start), Text(cut - 1), shard.Index, null);
                    var high = new ReshardChild(next++, Text(cut), Text(shard.Range.End), shard.Index, null);
                    children.Add(low);
                    children.Add(high);
                    after.Add((new OpenShard(low.Index, low.Range), remaining / 2));
                    after.Add((new OpenShard(high.Index, high.Range), remaining / 2));
                }
                if (children.Count == 0)
                    break;
                rounds.Add(new ReshardRound(children));
                pieces = after;
            }
        }
        else
        {
            var children = new List<ReshardChild>();
            foreach (var (a, b) in decision.Merges)
            {
                if (!byIndex.TryGetValue(a, out var left) || !byIndex.TryGetValue(b, out var right)
                    || left.Range.End == UInt128.MaxValue || left.Range.End + 1 != right.Range.Start)
                    return null;
                children.Add(new ReshardChild(next++, Text(left.Range.Start), Text(right.Range.End), left.Index, right.Index));
            }
            if (children.Count > 0)
                rounds.Add(new ReshardRound(children));
        }
        return new ReshardPlan(rounds);
    }

    private static string Text(UInt128 value) => value.ToString(CultureInfo.InvariantCulture);
}
