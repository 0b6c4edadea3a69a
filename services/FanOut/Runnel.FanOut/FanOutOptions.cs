using System.ComponentModel.DataAnnotations;

namespace Runnel.FanOut;

/// <summary>Bound from the <c>FanOut</c> section and validated on start.</summary>
public sealed class FanOutOptions
{
    public const string Section = "FanOut";

    /// <summary>Registered consumers per stream; AWS allows 20 (50 with the on-demand advantage).</summary>
    [Range(1, 50)]
    public int MaxConsumersPerStream { get; set; } = 20;

    /// <summary>Length of one SubscribeToShard subscription; AWS ends each after 5 minutes.</summary>
    [Range(1, 3600)]
    public int SubscriptionSeconds { get; set; } = 300;

    /// <summary>
    /// A second subscription of one consumer to one shard within this many seconds of the current one's start is
    /// refused with ResourceInUseException; later, it takes over (AWS: 5 s).
    /// </summary>
    [Range(0, 300)]
    public int TakeoverSeconds { get; set; } = 5;

    /// <summary>Read throughput of each consumer on each shard (AWS: 2 MiB/s).</summary>
    [Range(1024, 1024 * 1024 * 1024)]
    public int BytesPerSecondPerShard { get; set; } = 2 * 1024 * 1024;

    /// <summary>How long a registered consumer stays CREATING. No work happens meanwhile, so 0 is a sound default.</summary>
    [Range(0, 60_000)]
    public int ConsumerActivationMilliseconds { get; set; }

    /// <summary>Copied from <c>Runnel:Region</c>.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Copied from <c>Runnel:AccountId</c>.</summary>
    public string AccountId { get; set; } = "000000000000";
}
