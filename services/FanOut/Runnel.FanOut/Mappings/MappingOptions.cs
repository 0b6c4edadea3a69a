using System.ComponentModel.DataAnnotations;

namespace Runnel.FanOut.Mappings;

/// <summary>Event source mapping delivery, bound from <c>FanOut:Mappings</c>.</summary>
public sealed class MappingOptions
{
    public const string Section = "FanOut:Mappings";

    /// <summary>Whether this process delivers; the API is served either way.</summary>
    public bool DeliveryEnabled { get; set; } = true;

    /// <summary>How often mappings, shards and leases are re-read (changes made through this process wake it at once).</summary>
    [Range(50, 60_000)]
    public int ScanIntervalMilliseconds { get; set; } = 2000;

    /// <summary>
    /// A (mapping, shard) lease not renewed for this long is taken over by another replica; renewed every third of it.
    /// KCL's default failover time is 10 s.
    /// </summary>
    [Range(1, 600)]
    public int LeaseSeconds { get; set; } = 10;

    /// <summary>First retry delay of a failed batch; doubled per retry up to <see cref="RetryMaxMilliseconds"/>.</summary>
    [Range(0, 600_000)]
    public int RetryBaseMilliseconds { get; set; } = 1000;

    [Range(0, 3_600_000)]
    public int RetryMaxMilliseconds { get; set; } = 60_000;

    /// <summary>An invocation that has not answered after this long failed (Lambda's longest timeout is 900 s).</summary>
    [Range(1, 900)]
    public int InvokeTimeoutSeconds { get; set; } = 300;
}
