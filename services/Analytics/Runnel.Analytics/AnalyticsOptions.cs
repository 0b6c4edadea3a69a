using System.ComponentModel.DataAnnotations;

namespace Runnel.Analytics;

/// <summary>Bound from the <c>Analytics</c> section and validated on start.</summary>
public sealed class AnalyticsOptions
{
    public const string Section = "Analytics";

    /// <summary>Running SQL applications per deployment.</summary>
    [Range(1, 10000)]
    public int MaxApplications { get; set; } = 50;

    /// <summary>Upper bound for one ad-hoc query through the query API.</summary>
    [Range(1, 3600)]
    public int QueryTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// Folder of the local object store that reference data is read from when no S3 endpoint (<c>S3:Endpoint</c>) is
    /// set; default <c>buckets</c> under <c>Runnel:DataDirectory</c>, where delivery streams write.
    /// </summary>
    public string? LocalFolder { get; set; }

    /// <summary>Copied from <c>Runnel:Region</c>; reported in application ARNs.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Copied from <c>Runnel:AccountId</c>.</summary>
    public string AccountId { get; set; } = "000000000000";

    /// <summary>
    /// Named PostgreSQL connection strings the table output may write to (<c>Analytics:Databases:NAME</c>); the API
    /// names a database, so credentials never pass through it.
    /// </summary>
    public Dictionary<string, string> Databases { get; set; } = [];

    /// <summary>How often a running application checkpoints when it emits nothing, in milliseconds.</summary>
    [Range(50, 600_000)]
    public int CheckpointIntervalMilliseconds { get; set; } = 1000;

    /// <summary>How often a runner looks for applications to start or stop, in milliseconds.</summary>
    [Range(50, 60_000)]
    public int ScanIntervalMilliseconds { get; set; } = 1000;

    /// <summary>How long an application's lease lasts without renewal: a dead replica's applications move after this.</summary>
    [Range(1, 600)]
    public int LeaseSeconds { get; set; } = 10;

    /// <summary>How often a replica below its fair share may take one application from a replica above it.</summary>
    [Range(100, 3_600_000)]
    public int StealIntervalMilliseconds { get; set; } = 10_000;

    /// <summary>
    /// A shard that is caught up and has had no record for this long no longer holds event-time windows open
    /// (as an idle source in Flink); ROWTIME windows close by the clock once every shard is caught up.
    /// </summary>
    [Range(0, 3_600_000)]
    public int IdleShardMilliseconds { get; set; } = 5000;

    /// <summary>
    /// Hosts a LambdaOutput may be called at (<c>*.example.com</c> covers subdomains). Empty: only hosts that resolve
    /// to public addresses; loopback, private and link-local addresses are refused unless their host is listed.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];
}
