using System.ComponentModel.DataAnnotations;

namespace Runnel.Ingest.Capacity;

/// <summary>
/// Traffic accounting, hottest partition keys and automatic scaling of ON_DEMAND streams (section
/// <c>Capacity</c>). The defaults follow the managed service's behaviour: scale up within a minute of
/// sustained load near the limit, scale down only after a long quiet period.
/// </summary>
public sealed class CapacityOptions
{
    public const string Section = "Capacity";

    /// <summary>False stops the scaler; traffic is still counted for hot-key reports.</summary>
    public bool AutoScaling { get; set; } = true;

    /// <summary>How often each replica publishes what it counted to the shared store.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the scaler (one per cluster) looks at the on-demand streams.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A shard must be near its limit on average over this window to count as hot.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Share of a shard's write limit (bytes or records, whichever is higher) above which it is hot.</summary>
    [Range(0.05, 10.0)]
    public double ScaleUpThreshold { get; set; } = 0.8;

    /// <summary>Two adjacent shards whose combined use stays below this share of one shard's limit may merge.</summary>
    [Range(0.0, 1.0)]
    public double ScaleDownThreshold { get; set; } = 0.3;

    /// <summary>How long an on-demand stream must stay cold before shards merge.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan QuietPeriod { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>No new decision for a stream for this long after one (its children's rates must build up first).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan Cooldown { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Capacity kept per unit of the recent peak: 2 absorbs twice the peak, as the managed service does.</summary>
    [Range(1.0, 8.0)]
    public double Headroom { get; set; } = 2.0;

    /// <summary>
    /// Most pieces one hot shard becomes in one decision. Every piece is one round of halving, so 4 is two
    /// rounds; more load simply leads to another decision after the cooldown.
    /// </summary>
    [Range(2, 16)]
    public int MaxSplitPerShard { get; set; } = 4;

    /// <summary>How long the scaler's lease lasts; another replica takes over this long after its holder died.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Partition keys tracked per shard and flush (space-saving sketch); reports show at most this many.</summary>
    [Range(1, 1000)]
    public int HotKeysTracked { get; set; } = 32;

    /// <summary>The window hot-key reports and DescribeStreamSummary's hot shards look at.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan HotKeyWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>DescribeStreamSummary lists a shard as hot above this share of its write limit.</summary>
    [Range(0.0, 10.0)]
    public double HotShardThreshold { get; set; } = 0.5;

    /// <summary>Prefix of the Redis keys of the shared counters.</summary>
    [Required]
    public string KeyPrefix { get; set; } = "runnel:cap";
}
