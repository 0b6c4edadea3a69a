using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.ShardStore.Client;

/// <summary>A shard's owner as the placement table names it: the node, the epoch writes must carry, and its store.</summary>
public sealed record ShardOwner(ShardRef Shard, string NodeId, long Epoch, IShardStore Store);

/// <summary>
/// The one "who owns this shard" lookup over <c>shard_placements</c>, for every service that reads or writes a shard
/// directly (fan-out, event source mappings, resharding, the control plane, delivery streams, SQL applications).
/// </summary>
public static class ShardOwners
{
    /// <summary>The owner of <paramref name="shard"/>, or null when it has no placement (deleted, or not placed yet).</summary>
    public static async Task<ShardOwner?> OwnerAsync(this IShardStoreLocator locator, MetadataDbContext db, ShardRef shard, CancellationToken ct)
    {
        var placement = await db.ShardPlacements.AsNoTracking()
            .Where(p => p.StreamId == shard.StreamId && p.ShardIndex == shard.ShardIndex)
            .Select(p => new { p.NodeId, p.Epoch }).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return placement is null ? null : new ShardOwner(shard, placement.NodeId, placement.Epoch, locator.ForNode(placement.NodeId));
    }

    /// <summary>The owner of <paramref name="shard"/>; a shard without placement is <see cref="ShardNotFoundException"/>.</summary>
    public static async Task<ShardOwner> RequireOwnerAsync(this IShardStoreLocator locator, MetadataDbContext db, ShardRef shard, CancellationToken ct) =>
        await locator.OwnerAsync(db, shard, ct).ConfigureAwait(false) ?? throw new ShardNotFoundException(shard);

    /// <summary>The node named as owner of <paramref name="shard"/>, without a store client (a placement check).</summary>
    public static Task<string?> OwnerNodeAsync(MetadataDbContext db, ShardRef shard, CancellationToken ct) =>
        db.ShardPlacements.AsNoTracking()
            .Where(p => p.StreamId == shard.StreamId && p.ShardIndex == shard.ShardIndex)
            .Select(p => p.NodeId).FirstOrDefaultAsync(ct);

    /// <summary>The placements of a stream's shards (all of them, or those in <paramref name="indexes"/>).</summary>
    public static Task<List<ShardPlacementEntity>> PlacementsAsync(MetadataDbContext db, long streamId, IReadOnlyCollection<int>? indexes, CancellationToken ct)
    {
        var query = db.ShardPlacements.AsNoTracking().Where(p => p.StreamId == streamId);
        if (indexes is not null)
            query = query.Where(p => indexes.Contains(p.ShardIndex));
        return query.ToListAsync(ct);
    }

    /// <summary>
    /// Deletes every shard of a stream from the node that holds it (a shard already gone counts as deleted) and marks
    /// their placement rows removed in <paramref name="db"/>; the caller saves, so a crash before that leaves rows to
    /// delete again. Idempotent.
    /// </summary>
    public static async Task DropStreamShardsAsync(this IShardStoreLocator locator, MetadataDbContext db, long streamId, CancellationToken ct)
    {
        var placements = await db.ShardPlacements.Where(p => p.StreamId == streamId).ToListAsync(ct).ConfigureAwait(false);
        await Task.WhenAll(placements.Select(async p =>
        {
            try
            {
                await locator.ForNode(p.NodeId).DeleteShardAsync(new ShardRef(streamId, p.ShardIndex), ct).ConfigureAwait(false);
            }
            catch (ShardNotFoundException)
            {
            }
        })).ConfigureAwait(false);
        db.ShardPlacements.RemoveRange(placements);
    }
}
