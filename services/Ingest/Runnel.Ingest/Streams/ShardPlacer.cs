using Runnel.Core.Errors;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.ShardStore.Client;

namespace Runnel.Ingest.Streams;

/// <summary>Chooses the owner node of new shards; the caller saves the added placement rows.</summary>
public interface IShardPlacer
{
    /// <summary>
    /// Waits, for a bounded time, until some node can take shards. Call it before opening the transaction that
    /// places them: a node announces itself by writing the metadata store, and an open write transaction keeps it
    /// from doing so (SQLite admits one writer at a time), so a wait inside that transaction could never succeed.
    /// </summary>
    Task WaitForNodesAsync(MetadataDbContext db, CancellationToken cancellationToken);

    /// <summary>Adds a placement for each shard (not saved); fails at once when no node is live.</summary>
    Task PlaceAsync(MetadataDbContext db, long streamId, IReadOnlyList<int> shardIndexes, CancellationToken cancellationToken);
}

/// <summary>Placement by the ShardStore's planner: live nodes, fewest placements first, epoch 1.</summary>
public sealed class PlannerShardPlacer(PlacementPlanner planner, TimeProvider time) : IShardPlacer
{
    /// <summary>
    /// A node registers only once its server listens, so a stream created right after start (Standalone, or a
    /// cluster coming up) may briefly see none; waiting a few heartbeats beats failing the request.
    /// </summary>
    private static readonly TimeSpan NodeWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan NodePoll = TimeSpan.FromMilliseconds(250);

    public async Task WaitForNodesAsync(MetadataDbContext db, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + NodeWait;
        while ((await planner.LiveNodesAsync(db, cancellationToken)).Count == 0)
        {
            if (time.GetUtcNow() >= deadline)
                throw NoNodes();
            await Task.Delay(NodePoll, time, cancellationToken);
        }
    }

    public async Task PlaceAsync(MetadataDbContext db, long streamId, IReadOnlyList<int> shardIndexes, CancellationToken cancellationToken)
    {
        try
        {
            await planner.PlaceAsync(db, shardIndexes.Select(i => new ShardRef(streamId, i)), cancellationToken);
        }
        catch (NoLiveStoreNodesException)
        {
            throw NoNodes();
        }
    }

    private static KinesisException NoNodes() =>
        new(ErrorTypes.InternalFailure, "No shard store node is available to hold the stream's shards.", 500);
}
