using System.ComponentModel.DataAnnotations;

namespace Runnel.FanOut.Mappings;

/// <summary>Event source mapping delivery, bound from <c>FanOut:Mappings</c>.</summary>
public sealed class MappingOptions
{
    public const string Section = "FanOut:Mappings";

    /// <summary>
    /// Hosts that function URLs may name (<c>*.example.com</c> covers subdomains). Empty: any host that resolves to
    /// public addresses only; loopback, link-local and private ranges are refused unless their host is listed.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

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

    /// <summary>
    /// Share the (mapping, shard) leases fairly between the replicas that deliver: each takes free leases only up to
    /// <c>ceil(leases / live replicas)</c> and steals from a replica above that. Off: every replica takes every free lease
    /// it sees.
    /// </summary>
    public bool BalanceLeases { get; set; } = true;

    /// <summary>
    /// A replica that has not announced itself (every scan) for this long no longer counts as live when shares are
    /// computed. It is at least three scan intervals, so one slow scan does not make a replica look gone.
    /// </summary>
    [Range(1, 600)]
    public int WorkerExpirySeconds { get; set; } = 10;

    /// <summary>
    /// A replica below its share steals at most one lease per this interval from the most loaded one, so shares move
    /// one shard at a time and a replica that just joined does not take everything at once. KCL takes leases every 20 s
    /// by default; 10 s makes a joining replica reach its share of a few leases within a minute.
    /// </summary>
    [Range(0, 3_600_000)]
    public int StealIntervalMilliseconds { get; set; } = 10_000;

    /// <summary>How long a replica alive for <see cref="WorkerExpirySeconds"/> counts, given the scan interval.</summary>
    public TimeSpan WorkerExpiry => TimeSpan.FromMilliseconds(Math.Max(WorkerExpirySeconds * 1000.0, 3.0 * ScanIntervalMilliseconds));
}
