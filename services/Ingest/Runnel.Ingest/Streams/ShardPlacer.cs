using Runnel.Core.Errors;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.ShardStore.Client;

namespace Runnel.Ingest.Streams;

/// <summary>Chooses the owner node of new shards; the caller saves the added placement rows.</summary>
public interface IShardPlacer
{
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

    public async Task PlaceAsync(MetadataDbContext db, long streamId, IReadOnlyList<int> shardIndexes, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + NodeWait;
        while (true)
        {
            try
            {
                await planner.PlaceAsync(db, shardIndexes.Select(i => new ShardRef(streamId, i)), cancellationToken);
                return;
            }
            catch (NoLiveStoreNodesException) when (time.GetUtcNow() < deadline)
            {
                await Task.Delay(NodePoll, time, cancellationToken);
            }
            catch (NoLiveStoreNodesException)
            {
                throw new KinesisException(ErrorTypes.InternalFailure, "No shard store node is available to hold the stream's shards.", 500);
            }
        }
    }
}
