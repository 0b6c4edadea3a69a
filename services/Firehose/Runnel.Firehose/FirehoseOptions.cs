using System.ComponentModel.DataAnnotations;

namespace Runnel.Firehose;

/// <summary>
/// Bound from the <c>Firehose</c> section and validated on start. The object store is the S3 endpoint of <c>S3:Endpoint</c>,
/// <c>S3:AccessKey</c>, <c>S3:SecretKey</c> (shared with the readiness check) when one is set, otherwise a folder per
/// bucket under <see cref="LocalFolder"/>.
/// </summary>
public sealed class FirehoseOptions
{
    public const string Section = "Firehose";

    /// <summary>Folder of the local object store; default <c>buckets</c> under <c>Runnel:DataDirectory</c> (or the working directory).</summary>
    public string? LocalFolder { get; set; }

    /// <summary>Region the S3 client signs for and that ARNs report; copied from <c>Runnel:Region</c>.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Copied from <c>Runnel:AccountId</c>.</summary>
    public string AccountId { get; set; } = "000000000000";

    /// <summary>Delivery streams per account; AWS's default quota is 5,000 per region.</summary>
    [Range(1, 100_000)]
    public int MaxDeliveryStreams { get; set; } = 5000;

    /// <summary>Whether this process delivers; the API is served either way.</summary>
    public bool DeliveryEnabled { get; set; } = true;

    /// <summary>How often delivery streams and leases are re-read (changes made through this process wake it at once).</summary>
    [Range(50, 60_000)]
    public int ScanIntervalMilliseconds { get; set; } = 2000;

    /// <summary>A shard lease not renewed for this long is taken over by another replica; renewed every third of it.</summary>
    [Range(1, 600)]
    public int LeaseSeconds { get; set; } = 10;

    /// <summary>
    /// Share the (delivery stream, shard) leases fairly between the replicas that deliver: each takes free leases only
    /// up to <c>ceil(leases / live replicas)</c> and steals from a replica above that (<c>Runnel.Leases.LeaseBalancer</c>).
    /// Off: every replica takes every free lease it sees.
    /// </summary>
    public bool BalanceLeases { get; set; } = true;

    /// <summary>
    /// A replica below its share steals at most one lease per this interval, so shares move one shard at a time; a
    /// stolen shard resumes from its checkpoint after a third of the lease duration.
    /// </summary>
    [Range(0, 3_600_000)]
    public int StealIntervalMilliseconds { get; set; } = 10_000;

    /// <summary>
    /// A replica counts as live while its announcement (renewed every scan) is younger than this: the lease duration,
    /// and at least three scans so that one slow scan does not make it look gone.
    /// </summary>
    public TimeSpan WorkerExpiry => TimeSpan.FromMilliseconds(Math.Max(LeaseSeconds * 1000.0, 3.0 * ScanIntervalMilliseconds));

    /// <summary>
    /// How often a delivery at the end of its shard looks for new records. Delivery waits for buffering hints of at
    /// least a second, so a quarter second adds little to an object's latency and costs one read per shard per poll.
    /// </summary>
    [Range(10, 10_000)]
    public int PollMilliseconds { get; set; } = 250;

    /// <summary>
    /// Hosts delivery may connect to on a user's behalf (HTTP endpoint and PostgreSQL destinations); <c>*.example.com</c>
    /// covers subdomains. Empty: only hosts that resolve to public addresses; loopback, private and link-local addresses
    /// are refused unless their host is listed (see <c>DestinationPolicy</c>).
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];
}
