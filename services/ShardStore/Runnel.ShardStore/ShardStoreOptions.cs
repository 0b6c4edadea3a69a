using System.ComponentModel.DataAnnotations;
using Runnel.ShardStore.Engine;

namespace Runnel.ShardStore;

/// <summary>Bound from the <c>ShardStore</c> section (env <c>ShardStore__NodeId</c>, or <c>--ShardStore:NodeId=...</c>).</summary>
public sealed class ShardStoreOptions
{
    public const string Section = "ShardStore";

    /// <summary>This node's id in <c>store_nodes</c> and <c>shard_placements</c>; also its Dapr app id. Defaults to the machine name.</summary>
    [Required]
    public string NodeId { get; set; } = Environment.MachineName;

    [Required]
    public string DataDirectory { get; set; } = "./data/shardstore";

    /// <summary>URL other services use to reach this node; defaults to the first address the server listens on.</summary>
    public string? AdvertisedAddress { get; set; }

    public CommitPolicy CommitPolicy { get; set; } = CommitPolicy.Durable;

    /// <summary>64 MiB by default; at least 4 KiB.</summary>
    [Range(4096, long.MaxValue)]
    public long SegmentSizeBytes { get; set; } = 64L * 1024 * 1024;

    public TimeSpan RetentionCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan MaxCommitDelay { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Upper bound on the bytes one group commit writes before it makes them durable (bounds acknowledgement latency under load); at least 64 KiB.</summary>
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int MaxCommitBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Group commits up to this size are made durable through the node's commit journal (one fdatasync); 0 turns it off.</summary>
    [Range(0, 64 * 1024 * 1024)]
    public int JournalMaxCommitBytes { get; set; } = 64 * 1024;

    /// <summary>The commit journal starts a new file (after fsyncing the shard files it covers) at this size; at least 1 MiB.</summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long JournalRotateBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Appends are refused (retryable) while less than this stays free on the data directory's disk; 0 turns it off.</summary>
    [Range(0, long.MaxValue)]
    public long MinFreeDiskBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>How often the node refreshes its <c>store_nodes</c> heartbeat; placement treats a node as dead after 15 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a verified (shard, epoch) ownership is trusted before the next write re-reads <c>shard_placements</c>.
    /// Bounds how long a node that lost a shard without being told can keep accepting writes at the old epoch.
    /// </summary>
    public TimeSpan FencingRecheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    public ShardLogStoreOptions ToEngineOptions(TimeProvider time) => new()
    {
        DataDirectory = Path.GetFullPath(DataDirectory),
        SegmentSizeBytes = SegmentSizeBytes,
        CommitPolicy = CommitPolicy,
        MaxCommitDelay = MaxCommitDelay,
        MaxCommitBytes = MaxCommitBytes,
        JournalMaxCommitBytes = JournalMaxCommitBytes,
        JournalRotateBytes = JournalRotateBytes,
        RetentionCheckInterval = RetentionCheckInterval,
        MinFreeDiskBytes = MinFreeDiskBytes,
        TimeProvider = time,
    };
}
