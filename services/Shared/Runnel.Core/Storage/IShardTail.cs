namespace Runnel.Core.Storage;

/// <summary>
/// Where a shard's durable log ends. NextOrdinal is one past the last record a reader can see (durable under the
/// owner's commit policy); Sealed means the shard takes no more records, so NextOrdinal is final.
/// </summary>
public readonly record struct TailPosition(ulong NextOrdinal, bool Sealed);

/// <summary>
/// Pushes a shard's durable end to a reader as it moves, so a tailing reader learns of new records when the owner
/// commits them instead of polling. Implemented next to <see cref="IShardStore"/> by the engine (signalled by its
/// group-commit writer), by the node host (a streaming endpoint) and by the HTTP client; a store obtained from
/// <see cref="IShardStoreLocator"/> implements it when its node supports tailing.
/// </summary>
public interface IShardTail
{
    /// <summary>
    /// Yields the shard's position as soon as NextOrdinal is above <paramref name="fromOrdinal"/> or the shard is
    /// sealed, then again every time it moves. Positions are coalesced: a slow consumer sees the latest one, never a
    /// backlog. The sequence ends after a sealed position. Throws <see cref="ShardNotFoundException"/> when the shard
    /// does not exist here or is deleted while watched; a transport failure ends it with an exception, after which the
    /// caller re-resolves the owner and watches again from what it has read.
    /// </summary>
    IAsyncEnumerable<TailPosition> WatchAsync(ShardRef shard, ulong fromOrdinal, CancellationToken cancellationToken);
}
