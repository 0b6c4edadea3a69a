namespace Runnel.Ingest.Throttling;

/// <summary>
/// A stream incarnation: buckets are keyed by the id (a re-created stream starts with fresh
/// buckets), overrides are looked up by the name users configure.
/// </summary>
public readonly record struct StreamKey(long StreamId, string StreamName);

/// <summary>
/// The records one request puts into one shard, in request order, by size (data + partition key
/// bytes).
/// </summary>
public sealed record ShardWriteDemand(int ShardIndex, IReadOnlyList<int> RecordSizes);

/// <summary>
/// Admission against per-shard token buckets shared by every replica that uses the same store.
/// Each method costs at most one round trip to that store, whatever the number of shards or
/// records in the request.
/// </summary>
public interface IThroughputLimiter
{
    /// <summary>
    /// For each demand (same order), how many of its records are admitted: always a prefix, the
    /// longest that fits both the record and the byte bucket of the shard. A record is never skipped
    /// to admit a later one of the same shard. Admitted records consume their tokens.
    /// </summary>
    ValueTask<IReadOnlyList<int>> AcquireWritesAsync(StreamKey stream, IReadOnlyList<ShardWriteDemand> demands, CancellationToken cancellationToken);

    /// <summary>
    /// Admits one GetRecords call on a shard: takes a call token if the shard's read bytes are not
    /// in debt and no large-read penalty is running. Report the answer's size with <see cref="ChargeReadAsync"/>.
    /// </summary>
    ValueTask<bool> TryAcquireReadAsync(StreamKey stream, int shardIndex, CancellationToken cancellationToken);

    /// <summary>
    /// Charges the bytes of an admitted GetRecords answer. The byte bucket may go into debt, which
    /// holds back the shard's next reads until it refills; an answer of at least the large-read size
    /// blocks them for the penalty time. Does not wait for the store.
    /// </summary>
    ValueTask ChargeReadAsync(StreamKey stream, int shardIndex, long bytes, CancellationToken cancellationToken);

    ValueTask<bool> TryAcquireShardIteratorAsync(StreamKey stream, int shardIndex, CancellationToken cancellationToken);

    /// <summary>
    /// Admits one call of a control-plane operation. Stream-scoped limits need <paramref name="stream"/>;
    /// without it (or for an operation without a limit) the call is admitted.
    /// </summary>
    ValueTask<bool> TryAcquireControlPlaneAsync(string operation, StreamKey? stream, CancellationToken cancellationToken);

    /// <summary>The per-shard limits in force for a stream; null when it is not throttled.</summary>
    EffectiveShardLimits? LimitsFor(string streamName);
}
