namespace Runnel.Core.Storage;

/// <summary>One shard of one stream incarnation. StreamId is the metadata id, never reused after deletion.</summary>
public readonly record struct ShardRef(long StreamId, int ShardIndex)
{
    public override string ToString() => $"{StreamId}/{ShardIndex}";
}

/// <summary>A record as a producer hands it to a shard.</summary>
public readonly record struct AppendRecord(string PartitionKey, ReadOnlyMemory<byte> Data);

/// <summary>
/// The outcome of one durable append: the records got the consecutive ordinals
/// FirstOrdinal .. FirstOrdinal + Count - 1 and share one arrival timestamp.
/// </summary>
public readonly record struct AppendResult(ulong FirstOrdinal, int Count, long ArrivalUnixMs);

/// <summary>A record as stored: immutable once written.</summary>
/// <param name="Encrypted">Stored sealed (encryption at rest): Kinesis reports the record's EncryptionType as KMS.</param>
public sealed record StoredRecord(ulong Ordinal, long ArrivalUnixMs, string PartitionKey, ReadOnlyMemory<byte> Data, bool Encrypted = false);

/// <summary>
/// A read from <paramref name="FromOrdinal"/>. An ordinal below the shard's trim point reads from the
/// oldest retained record. At most MaxRecords records and, except that the first record is always
/// returned whole, at most MaxBytes of data + partition keys.
/// </summary>
public readonly record struct ReadRequest(ulong FromOrdinal, int MaxRecords, int MaxBytes);

/// <summary>
/// NextOrdinal is where the following read continues. EndOfShard is true once the shard is sealed and
/// the read reached its last record: there is nothing more to read, ever (follow the children).
/// MillisBehindLatest is 0 when the read reached the tip.
/// </summary>
public sealed record ReadResult(IReadOnlyList<StoredRecord> Records, ulong NextOrdinal, bool EndOfShard, long MillisBehindLatest);

/// <summary>
/// State of a shard's log. TrimOrdinal is the oldest retained ordinal; NextOrdinal the one the next
/// append gets. SealedAtOrdinal, once set, is one past the last record the shard will ever hold.
/// </summary>
public sealed record ShardState(ShardRef Shard, long Epoch, ulong TrimOrdinal, ulong NextOrdinal, ulong? SealedAtOrdinal, long LastArrivalUnixMs);

/// <summary>Settings a shard is opened with; retention is enforced by the store that holds the log.</summary>
public sealed record ShardSettings(TimeSpan Retention);

/// <summary>
/// The data plane of a shard owner. Every mutation carries the placement epoch the caller routed by:
/// the owner refuses a stale or foreign epoch with <see cref="ShardNotOwnedException"/>, so a node that
/// lost a shard can never accept writes for it. Implemented in process by the ShardStore engine and
/// over HTTP by the ShardStore client; callers cannot tell which.
/// </summary>
public interface IShardStore
{
    /// <summary>Creates the shard's log if absent (idempotent) and takes ownership at <paramref name="epoch"/>.</summary>
    Task OpenShardAsync(ShardRef shard, long epoch, ShardSettings settings, CancellationToken cancellationToken);

    /// <summary>Appends in order and returns only once the records are durable under the store's commit policy.</summary>
    Task<AppendResult> AppendAsync(ShardRef shard, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken cancellationToken);

    Task<ReadResult> ReadAsync(ShardRef shard, ReadRequest request, CancellationToken cancellationToken);

    Task<ShardState> GetStateAsync(ShardRef shard, CancellationToken cancellationToken);

    /// <summary>The first ordinal whose arrival time is at or after <paramref name="timestampUnixMs"/> (NextOrdinal if none).</summary>
    Task<ulong> FindOrdinalAsync(ShardRef shard, long timestampUnixMs, CancellationToken cancellationToken);

    /// <summary>Closes the shard for writes; returns the final state (SealedAtOrdinal set). Idempotent.</summary>
    Task<ShardState> SealShardAsync(ShardRef shard, long epoch, CancellationToken cancellationToken);

    Task UpdateSettingsAsync(ShardRef shard, ShardSettings settings, CancellationToken cancellationToken);

    /// <summary>Removes the shard's log and all its files. Idempotent.</summary>
    Task DeleteShardAsync(ShardRef shard, CancellationToken cancellationToken);
}

/// <summary>Finds the <see cref="IShardStore"/> that reaches a given node (in process or over the network).</summary>
public interface IShardStoreLocator
{
    IShardStore ForNode(string nodeId);
}

/// <summary>The node does not own the shard at that epoch: refresh placement and retry at the new owner.</summary>
public sealed class ShardNotOwnedException(ShardRef shard, string message) : Exception(message)
{
    public ShardRef Shard { get; } = shard;
}

/// <summary>The shard exists on no node that was asked.</summary>
public sealed class ShardNotFoundException(ShardRef shard) : Exception($"Shard {shard} does not exist on this node.")
{
    public ShardRef Shard { get; } = shard;
}

/// <summary>The shard is sealed (closed by resharding): writes must go to its children.</summary>
public sealed class ShardSealedException(ShardRef shard) : Exception($"Shard {shard} is closed for writes.")
{
    public ShardRef Shard { get; } = shard;
}
