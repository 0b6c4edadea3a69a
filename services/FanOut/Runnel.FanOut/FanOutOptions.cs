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
}
