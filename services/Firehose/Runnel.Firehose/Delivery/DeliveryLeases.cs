using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Leases;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// One <c>leases</c> row per (delivery stream, source shard), ApplicationName <c>firehose:ID</c>: who delivers the
/// shard and its <see cref="DeliveryCheckpoint"/>. Rows are added when the delivery stream is created and, for shards
/// born of a resharding of the source, by the delivery scan.
/// </summary>
public sealed class DeliveryLeases(IShardStoreLocator locator)
{
    /// <summary>
    /// Adds a row for every shard of the source that has none (not saved). With <paramref name="startAtLatest"/> open shards
    /// start after their last record and sealed ones count as delivered; otherwise every shard starts at its beginning.
    /// </summary>
    public async Task<int> SeedAsync(MetadataDbContext db, DeliveryStreamEntity d, bool startAtLatest, CancellationToken ct)
    {
        var application = DeliveryStreamEntity.LeaseApplication(d.Id);
        var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == d.SourceStreamId).ToListAsync(ct).ConfigureAwait(false);
        var existing = await db.Leases.AsNoTracking().Where(l => l.ApplicationName == application).Select(l => l.ShardIndex).ToListAsync(ct).ConfigureAwait(false);
        var added = 0;
        foreach (var shard in shards.Where(s => !existing.Contains(s.ShardIndex)).OrderBy(s => s.ShardIndex))
        {
            string? checkpoint = null;
            if (startAtLatest)
                checkpoint = shard.EndingSequenceNumber is not null ? DeliveryCheckpoint.ShardEnd : await LatestAsync(db, shard, ct).ConfigureAwait(false);
            db.Leases.Add(new LeaseEntity
            {
                ApplicationName = application,
                StreamId = d.SourceStreamId,
                ShardIndex = shard.ShardIndex,
                Checkpoint = checkpoint,
                ParentShardIndexes = ShardLeases.ParentsOf(shard),
            });
            added++;
        }
        return added;
    }

    private async Task<string?> LatestAsync(MetadataDbContext db, ShardEntity shard, CancellationToken ct)
    {
        var node = await ShardOwners.OwnerNodeAsync(db, new ShardRef(shard.StreamId, shard.ShardIndex), ct).ConfigureAwait(false);
        if (node is null)
            return null;
        var state = await locator.ForNode(node).GetStateAsync(new ShardRef(shard.StreamId, shard.ShardIndex), ct).ConfigureAwait(false);
        return DeliveryCheckpoint.Delivered(shard.ShardIndex, state.NextOrdinal);
    }
}
