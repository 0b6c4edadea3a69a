using Runnel.Core.Hashing;
using Runnel.Ingest.Capacity;
using Runnel.Ingest.Resharding;
using Runnel.Ingest.Throttling;

namespace Runnel.Ingest.Tests;

/// <summary>The on-demand scaling rules and the space-saving sketch, without a host.</summary>
public sealed class ScalingPolicyTests
{
    private static readonly CapacityOptions Options = new();
    private static readonly EffectiveShardLimits Limits = new(1024 * 1024, 1000, 2 * 1024 * 1024, 5, 5, 10 * 1024 * 1024, TimeSpan.FromSeconds(5));

    private static ShardLoad Load(int index, double average, double peak) => new(index, average, peak, 0, 0, 0, 60);

    private static List<OpenShard> Uniform(int count) =>
        [.. HashKeyRange.EvenSplit(count).Select((r, i) => new OpenShard(i, r))];

    [Fact]
    public void Measure_uses_the_higher_of_bytes_and_records_offered_including_throttled()
    {
        var series = new ShardSecond[4];
        series[2] = new ShardSecond(100, 500, 0, 300);  // 800 records offered: 0.8 of the record limit
        series[3] = new ShardSecond(1024 * 1024, 10, 0, 0); // a full second of bytes

        var load = ScalingPolicy.Measure(7, series, 2, Limits);

        Assert.Equal(2, load.Seconds);
        // Over both seconds the bytes dominate (a full second's worth in two seconds).
        Assert.Equal(0.5, load.Average, 3);
        // The peak is the best two-second average of the per-second use (0.8 records, then 1.0 bytes).
        Assert.Equal(0.9, load.Peak, 3);
        Assert.Equal(300, load.ThrottledRecords);
    }

    [Fact]
    public void Hot_shards_split_into_enough_halves_for_twice_their_peak_in_one_decision()
    {
        var loads = new[] { Load(0, 0.9, 1.5), Load(1, 0.2, 0.3), Load(2, 0.85, 0.9), Load(3, 0.1, 0.1) };

        var decision = ScalingPolicy.Decide(loads, Options, minimumShards: 4, quietEnough: true)!;

        Assert.Equal(ScalingPolicy.ScaleUp, decision.Action);
        Assert.Equal(new Dictionary<int, int> { [0] = 4, [2] = 2 }, decision.Splits);
        var plan = ScalingPolicy.PlanFor(decision, Uniform(4), 4)!;
        Assert.Equal(2, plan.Rounds.Count);
        Assert.Equal(8, ReshardPlanner.OpenCountAfter(plan, 4));
        // Round one halves both hot shards; round two halves shard 0's halves again.
        Assert.Equal(new[] { 0, 2 }, plan.Rounds[0].Parents);
        Assert.Equal(2, plan.Rounds[1].Parents.Count);
        var finalRanges = plan.Rounds[1].Children.Concat(plan.Rounds[0].Children.Where(c => c.Parent == 2)).Select(c => c.Range).OrderBy(r => r.Start).ToList();
        Assert.Equal(Uniform(4)[0].Range.Start, finalRanges[0].Start);
        for (var i = 1; i < 4; i++)
            Assert.Equal(finalRanges[i - 1].End + 1, finalRanges[i].Start);
    }

    [Fact]
    public void Cold_neighbours_merge_only_after_the_quiet_period_and_never_below_the_starting_capacity()
    {
        var loads = Enumerable.Range(0, 6).Select(i => Load(i, 0.01, 0.02)).ToList();

        Assert.Null(ScalingPolicy.Decide(loads, Options, minimumShards: 4, quietEnough: false));
        var decision = ScalingPolicy.Decide(loads, Options, minimumShards: 4, quietEnough: true)!;
        Assert.Equal(ScalingPolicy.ScaleDown, decision.Action);
        Assert.Equal(new List<(int, int)> { (0, 1), (2, 3) }, decision.Merges);
        var plan = ScalingPolicy.PlanFor(decision, Uniform(6), 6)!;
        Assert.Equal(4, ReshardPlanner.OpenCountAfter(plan, 6));

        Assert.Null(ScalingPolicy.Decide(loads.Take(4).ToList(), Options, minimumShards: 4, quietEnough: true));
        // A pair that would carry more than half a shard at its peak stays apart.
        Assert.Null(ScalingPolicy.Decide([Load(0, 0.1, 0.3), Load(1, 0.1, 0.3), Load(2, 0.1, 0.3)], Options, minimumShards: 1, quietEnough: true));
    }

    [Fact]
    public void PlanFor_refuses_when_the_shards_changed_since_the_decision()
    {
        var decision = ScalingPolicy.Decide([Load(0, 0.9, 0.9)], Options, 1, false)!;

        Assert.Null(ScalingPolicy.PlanFor(decision, [new OpenShard(5, new HashKeyRange(0, UInt128.MaxValue))], 6));
    }

    [Fact]
    public void SpaceSaving_keeps_every_heavy_key_and_never_underestimates()
    {
        var sketch = new SpaceSaving(4);
        var truth = new Dictionary<string, long>();
        var random = new Random(42);
        for (var i = 0; i < 10_000; i++)
        {
            // Two heavy keys carry most of the bytes among 200 light ones.
            var key = (i % 3) switch { 0 => "heavy-a", 1 when i % 2 == 0 => "heavy-b", _ => "light-" + random.Next(200) };
            var bytes = key.StartsWith("heavy", StringComparison.Ordinal) ? 100 : 10;
            sketch.Add(key, bytes);
            truth[key] = truth.GetValueOrDefault(key) + bytes;
        }

        var top = sketch.TakeAll();

        Assert.Equal(new[] { "heavy-a", "heavy-b" }, top.Take(2).Select(k => k.Key));
        Assert.All(top, k => Assert.True(k.Bytes >= truth[k.Key]));
        Assert.Empty(sketch.TakeAll());
    }

    [Fact]
    public void TrafficRecorder_counts_accepted_and_throttled_apart_and_samples_large_batches_without_bias()
    {
        var recorder = new TrafficRecorder(Microsoft.Extensions.Options.Options.Create(new CapacityOptions()));
        const int count = 500;
        var batch = new Operations.KinesisDataPlane.Batch(count);
        for (var i = 0; i < count; i++)
            batch.Records[i].PartitionKey = i % 2 == 0 ? "even" : $"odd-{i}";
        var sizes = Enumerable.Repeat(100, count).ToArray();
        var demands = new[] { new ShardWriteDemand(3, sizes) };
        var groups = new[] { Enumerable.Range(0, count).ToList() };

        long even = 0;
        const int rounds = 40;
        for (var round = 0; round < rounds; round++)
        {
            recorder.PutRecords(9, demands, [400], groups, batch);
            var sample = Assert.Single(recorder.Drain());
            Assert.Equal((9L, 3), (sample.StreamId, sample.ShardIndex));
            Assert.Equal((40_000L, 400L, 10_000L, 100L), (sample.Bytes, sample.Records, sample.ThrottledBytes, sample.ThrottledRecords));
            Assert.Equal("even", sample.TopKeys[0].Key);
            even += sample.TopKeys[0].Bytes;
        }

        // "even" carries half of the 50,000 bytes of each request; the sample of about 64 records estimates it.
        Assert.InRange(even / (double)rounds, 25_000 * 0.8, 25_000 * 1.2);
        // A shard without writes since the last drain is forgotten.
        Assert.Empty(recorder.Drain());
    }
}
