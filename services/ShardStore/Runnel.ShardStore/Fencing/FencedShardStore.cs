using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.ShardStore.Engine;

namespace Runnel.ShardStore.Fencing;

/// <summary>
/// The node's <see cref="IShardStore"/>: the local engine behind a check of ownership against
/// <c>shard_placements</c>. A mutation (open, append, seal) at an epoch is accepted only if the placement names this
/// node at exactly that epoch. A verified pair is cached for <see cref="ShardStoreOptions.FencingRecheckInterval"/>,
/// so the hot path costs a dictionary lookup; after that the next write re-reads the placement, and a node that
/// lost the shard starts refusing. The engine's own fencing (a persisted high-water epoch) still refuses any epoch
/// lower than one it has seen, even while the metadata store is down.
/// </summary>
public sealed class FencedShardStore(
    ShardLogStore engine,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IOptions<ShardStoreOptions> options,
    TimeProvider time) : IShardStore, IShardTail
{
    private readonly ConcurrentDictionary<ShardRef, Verified> _verified = new();
    private readonly string _nodeId = options.Value.NodeId;
    private readonly TimeSpan _recheck = options.Value.FencingRecheckInterval;

    public ShardLogStore Engine => engine;

    public async Task OpenShardAsync(ShardRef shard, long epoch, ShardSettings settings, CancellationToken cancellationToken)
    {
        await EnsureOwnedAsync(shard, epoch, cancellationToken).ConfigureAwait(false);
        await engine.OpenShardAsync(shard, epoch, settings, cancellationToken).ConfigureAwait(false);
    }

    public async Task<AppendResult> AppendAsync(ShardRef shard, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken cancellationToken)
    {
        var pending = EnsureOwnedAsync(shard, epoch, cancellationToken);
        if (!pending.IsCompletedSuccessfully)
            await pending.ConfigureAwait(false);
        return await engine.AppendAsync(shard, epoch, records, cancellationToken).ConfigureAwait(false);
    }

    public Task<ReadResult> ReadAsync(ShardRef shard, ReadRequest request, CancellationToken cancellationToken) =>
        engine.ReadAsync(shard, request, cancellationToken);

    /// <summary>Reading needs no ownership check: a reader of a moved shard learns of it from its placement.</summary>
    public IAsyncEnumerable<TailPosition> WatchAsync(ShardRef shard, ulong fromOrdinal, CancellationToken cancellationToken) =>
        engine.WatchAsync(shard, fromOrdinal, cancellationToken);

    public Task<ShardState> GetStateAsync(ShardRef shard, CancellationToken cancellationToken) =>
        engine.GetStateAsync(shard, cancellationToken);

    public Task<ulong> FindOrdinalAsync(ShardRef shard, long timestampUnixMs, CancellationToken cancellationToken) =>
        engine.FindOrdinalAsync(shard, timestampUnixMs, cancellationToken);

    public async Task<ShardState> SealShardAsync(ShardRef shard, long epoch, CancellationToken cancellationToken)
    {
        await EnsureOwnedAsync(shard, epoch, cancellationToken).ConfigureAwait(false);
        return await engine.SealShardAsync(shard, epoch, cancellationToken).ConfigureAwait(false);
    }

    public Task UpdateSettingsAsync(ShardRef shard, ShardSettings settings, CancellationToken cancellationToken) =>
        engine.UpdateSettingsAsync(shard, settings, cancellationToken);

    public async Task DeleteShardAsync(ShardRef shard, CancellationToken cancellationToken)
    {
        _verified.TryRemove(shard, out _);
        await engine.DeleteShardAsync(shard, cancellationToken).ConfigureAwait(false);
    }

    private ValueTask EnsureOwnedAsync(ShardRef shard, long epoch, CancellationToken cancellationToken)
    {
        if (_verified.TryGetValue(shard, out var known))
        {
            if (epoch < known.Epoch)
                return ValueTask.FromException(new ShardNotOwnedException(shard, $"Shard {shard} is owned at epoch {known.Epoch} or later; epoch {epoch} is stale."));
            // A monotonic timestamp: the wall clock costs more per append and may step.
            if (epoch == known.Epoch && time.GetElapsedTime(known.AtTimestamp) < _recheck)
                return ValueTask.CompletedTask;
        }
        return CheckPlacementAsync(shard, epoch, cancellationToken);
    }

    private async ValueTask CheckPlacementAsync(ShardRef shard, long epoch, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var placement = await db.ShardPlacements.AsNoTracking()
            .Where(p => p.StreamId == shard.StreamId && p.ShardIndex == shard.ShardIndex)
            .Select(p => new { p.NodeId, p.Epoch })
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false);
        if (placement is null)
        {
            _verified.TryRemove(shard, out _);
            throw new ShardNotOwnedException(shard, $"Shard {shard} has no placement.");
        }
        if (placement.NodeId != _nodeId || placement.Epoch != epoch)
        {
            _verified.TryRemove(shard, out _);
            throw new ShardNotOwnedException(shard,
                $"Shard {shard} is placed on node '{placement.NodeId}' at epoch {placement.Epoch}; this is node '{_nodeId}' asked at epoch {epoch}.");
        }
        _verified[shard] = new Verified(epoch, time.GetTimestamp());
    }

    private readonly record struct Verified(long Epoch, long AtTimestamp);
}
