using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.ShardStore.Client;

/// <summary>
/// Decides which ShardStore node owns a shard. New shards go to live nodes (a heartbeat within
/// <see cref="LiveWindow"/>) with the fewest placements, so shards spread evenly; the caller saves the rows
/// together with the shards themselves, in one transaction.
/// </summary>
public sealed class PlacementPlanner(TimeProvider time)
{
    /// <summary>Nodes heartbeat every few seconds; three missed beats and a margin mark a node dead.</summary>
    public static readonly TimeSpan LiveWindow = TimeSpan.FromSeconds(15);

    public async Task<IReadOnlyList<StoreNodeEntity>> LiveNodesAsync(MetadataDbContext db, CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - LiveWindow;
        // Few rows; filtered in memory because SQLite stores DateTimeOffset as binary and cannot compare it.
        var nodes = await db.StoreNodes.AsNoTracking().ToListAsync(cancellationToken).ConfigureAwait(false);
        return [.. nodes.Where(n => n.LastHeartbeatAt >= cutoff).OrderBy(n => n.NodeId, StringComparer.Ordinal)];
    }

    /// <summary>Adds a placement at epoch 1 for each shard (not saved). Throws <see cref="NoLiveStoreNodesException"/> when no node is alive.</summary>
    public async Task<IReadOnlyList<ShardPlacementEntity>> PlaceAsync(MetadataDbContext db, IEnumerable<ShardRef> shards, CancellationToken cancellationToken)
    {
        var live = await LiveNodesAsync(db, cancellationToken).ConfigureAwait(false);
        if (live.Count == 0)
            throw new NoLiveStoreNodesException();
        var load = await CurrentLoadAsync(db, live, cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var placements = new List<ShardPlacementEntity>();
        foreach (var shard in shards)
        {
            var node = LeastLoaded(load, exclude: null);
            load[node]++;
            var placement = new ShardPlacementEntity { StreamId = shard.StreamId, ShardIndex = shard.ShardIndex, NodeId = node, Epoch = 1, AssignedAt = now };
            db.ShardPlacements.Add(placement);
            placements.Add(placement);
        }
        return placements;
    }

    /// <summary>
    /// Moves a shard to <paramref name="toNodeId"/> (or the least-loaded live node other than the current owner) and
    /// bumps its epoch, which fences the previous owner. Not saved; the epoch is a concurrency token, so two racing
    /// reassignments cannot both commit.
    /// </summary>
    public async Task<ShardPlacementEntity> ReassignAsync(MetadataDbContext db, ShardRef shard, string? toNodeId, CancellationToken cancellationToken)
    {
        var placement = await db.ShardPlacements
            .FirstOrDefaultAsync(p => p.StreamId == shard.StreamId && p.ShardIndex == shard.ShardIndex, cancellationToken).ConfigureAwait(false)
            ?? throw new ShardNotFoundException(shard);
        if (toNodeId is null)
        {
            var live = await LiveNodesAsync(db, cancellationToken).ConfigureAwait(false);
            var load = await CurrentLoadAsync(db, live, cancellationToken).ConfigureAwait(false);
            if (load.Count == 0 || (load.Count == 1 && load.ContainsKey(placement.NodeId)))
                throw new NoLiveStoreNodesException();
            toNodeId = LeastLoaded(load, exclude: placement.NodeId);
        }
        placement.NodeId = toNodeId;
        placement.Epoch++;
        placement.AssignedAt = time.GetUtcNow();
        return placement;
    }

    private static async Task<Dictionary<string, int>> CurrentLoadAsync(MetadataDbContext db, IReadOnlyList<StoreNodeEntity> live, CancellationToken cancellationToken)
    {
        var load = live.ToDictionary(n => n.NodeId, _ => 0, StringComparer.Ordinal);
        var counts = await db.ShardPlacements.AsNoTracking()
            .GroupBy(p => p.NodeId)
            .Select(g => new { NodeId = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        foreach (var c in counts)
        {
            if (load.ContainsKey(c.NodeId))
                load[c.NodeId] = c.Count;
        }
        // Placements added to this context but not saved yet count too (several planner calls in one transaction).
        foreach (var entry in db.ChangeTracker.Entries<ShardPlacementEntity>().Where(e => e.State == EntityState.Added))
        {
            if (load.ContainsKey(entry.Entity.NodeId))
                load[entry.Entity.NodeId]++;
        }
        return load;
    }

    private static string LeastLoaded(Dictionary<string, int> load, string? exclude) =>
        load.Where(kv => kv.Key != exclude)
            .OrderBy(kv => kv.Value)
            .ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .First().Key;
}

/// <summary>No ShardStore node has sent a heartbeat recently: shards cannot be placed.</summary>
public sealed class NoLiveStoreNodesException() : Exception("No live ShardStore node is registered.");
