namespace Runnel.ShardStore.Engine;

/// <summary>When an append is acknowledged relative to the disk.</summary>
public enum CommitPolicy
{
    /// <summary>
    /// The append completes only after its bytes were fsynced. Survives power loss and kernel crashes;
    /// costs one fsync per group commit (about 1-3 ms on SSDs), which concurrent appends share.
    /// </summary>
    Durable,

    /// <summary>
    /// The append completes once its bytes are written to the OS (page cache); dirty files are fsynced every
    /// <see cref="ShardLogStoreOptions.RelaxedFlushInterval"/>. Survives a process crash (kill -9), but a power
    /// loss or kernel crash can lose up to one interval of acknowledged records. Higher throughput and lower latency.
    /// </summary>
    Relaxed,
}

/// <summary>Settings of a <see cref="ShardLogStore"/>. Immutable; change with <c>with</c>.</summary>
public sealed record ShardLogStoreOptions
{
    /// <summary>Root folder; each shard lives in <c>&lt;DataDirectory&gt;/&lt;streamId&gt;/&lt;shardIndex&gt;/</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>A segment rolls over once the next frame would exceed this size (a single larger record still fits in a fresh segment).</summary>
    public long SegmentSizeBytes { get; init; } = 64L * 1024 * 1024;

    public CommitPolicy CommitPolicy { get; init; } = CommitPolicy.Durable;

    /// <summary>
    /// Upper bound on how long the writer keeps writing queued appends before it fsyncs. While more appends are
    /// queued it writes them too, so one fsync covers all of them; it never delays an fsync when the queue is empty.
    /// </summary>
    public TimeSpan MaxCommitDelay { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Upper bound on the bytes written between two fsyncs of one group commit (bounds ack latency under load).</summary>
    public int MaxCommitBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// Under <see cref="CommitPolicy.Durable"/>, a group commit of at most this many bytes is made durable by one
    /// fdatasync of the node's commit journal instead of an fsync of every shard file it touched (four shards' files
    /// took about four times one file's fsync here). Larger groups fsync their shard files: copying them into the
    /// journal (which is also zero-filled ahead) costs more CPU and disk writes than the fsyncs saved. 64 KiB takes
    /// the groups of single records and small batches but not PutRecords' hundreds of KiB: at 256 KiB the nodes of
    /// a cluster, whose per-shard requests are ~128 KiB, lost a fifth of their PutRecords rate. Zero turns the
    /// journal off.
    /// </summary>
    public int JournalMaxCommitBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// The commit journal starts a new file once it holds this many bytes, after fsyncing every shard file written
    /// under the old one. Bounds the journal's disk use and the replay work after a crash.
    /// </summary>
    public long JournalRotateBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Fsync interval under <see cref="CommitPolicy.Relaxed"/>.</summary>
    public TimeSpan RelaxedFlushInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Distance between sparse index entries. A read seeks to the closest entry at or below its ordinal and scans at
    /// most this many bytes; 64 KiB keeps a 64 MiB segment's index at 1,024 entries (24 KiB of memory).
    /// </summary>
    public int IndexIntervalBytes { get; init; } = 64 * 1024;

    /// <summary>How often the background pass deletes expired segments. Zero or negative disables the background pass.</summary>
    public TimeSpan RetentionCheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Appends queued beyond this many wait (back-pressure) instead of growing memory without bound.</summary>
    public int MaxQueuedAppends { get; init; } = 4096;

    /// <summary>
    /// Appends are refused (<see cref="StorageFullException"/>) while less than this would stay free on the data
    /// directory's file system, and accepted again once it is back. 256 MiB leaves room for what still writes on a
    /// full disk: checkpoint, index and metadata files, the journal's 1 MiB zero-fill steps, and a metadata database
    /// (Standalone's SQLite) on the same disk. Zero turns the check off.
    /// </summary>
    public long MinFreeDiskBytes { get; init; } = 256L * 1024 * 1024;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
