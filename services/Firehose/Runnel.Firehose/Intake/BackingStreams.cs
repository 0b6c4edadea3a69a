using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Firehose.Intake;

/// <summary>
/// The internal stream a Direct PUT delivery stream writes into before it answers, so an acknowledged record is as
/// durable as a Kinesis record and delivery reads it with checkpoints like any source stream. It is an ordinary stream
/// row (placed by the ShardStore's planner, held by shard store nodes) whose name starts with
/// <see cref="DeliveryStreamEntity.BackingStreamPrefix"/>: ListStreams leaves it out and no Kinesis call can name it.
/// </summary>
public sealed class BackingStreams(IDbContextFactory<MetadataDbContext> dbFactory, IShardStoreLocator locator, PlacementPlanner planner, TimeProvider time)
{
    /// <summary>One shard: a delivery stream's intake is bounded by its buffering, not by a shard's 1 MiB/s quota.</summary>
    public const int ShardCount = 1;

    private static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    /// <summary>Creates and opens the backing stream of delivery stream <paramref name="deliveryStreamId"/>; returns its id.</summary>
    public async Task<long> CreateAsync(long deliveryStreamId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var stream = new StreamEntity
        {
            Name = DeliveryStreamEntity.BackingStreamName(deliveryStreamId),
            Status = StreamStatuses.Creating,
            CreatedAt = now,
            RetentionHours = (int)Retention.TotalHours,
            Version = 1,
        };
        stream.AddEvenlySplitShards(ShardCount, now);
        await using (var tx = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false))
        {
            db.Streams.Add(stream);
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            await planner.PlaceAsync(db, Enumerable.Range(0, ShardCount).Select(i => new ShardRef(stream.Id, i)), ct).ConfigureAwait(false);
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        var placements = await ShardOwners.PlacementsAsync(db, stream.Id, null, ct).ConfigureAwait(false);
        await Task.WhenAll(placements.Select(p =>
            locator.ForNode(p.NodeId).OpenShardAsync(new ShardRef(stream.Id, p.ShardIndex), p.Epoch, new ShardSettings(Retention), ct))).ConfigureAwait(false);
        stream.Status = StreamStatuses.Active;
        stream.Version++;
        await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
        return stream.Id;
    }

    /// <summary>Removes the backing stream's shards from their nodes and its rows. Idempotent.</summary>
    public async Task DeleteAsync(long streamId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await locator.DropStreamShardsAsync(db, streamId, ct).ConfigureAwait(false);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        await db.Streams.Where(s => s.Id == streamId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends the records durably to the backing stream and returns their sequence numbers. All records of one call
    /// go to the one shard in one append, so they are accepted or refused together. A placement that moved since it was
    /// read (<see cref="ShardNotOwnedException"/>) is read again once.
    /// </summary>
    public async Task<IReadOnlyList<SequenceNumber>> AppendAsync(long streamId, IReadOnlyList<AppendRecord> records, CancellationToken ct)
    {
        const int shardIndex = 0;
        var shard = new ShardRef(streamId, shardIndex);
        for (var attempt = 1; ; attempt++)
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
            var owner = await locator.RequireOwnerAsync(db, shard, ct).ConfigureAwait(false);
            try
            {
                var result = await owner.Store.AppendAsync(shard, owner.Epoch, records, ct).ConfigureAwait(false);
                return [.. Enumerable.Range(0, result.Count).Select(i => new SequenceNumber(shardIndex, result.FirstOrdinal + (ulong)i))];
            }
            catch (ShardNotOwnedException) when (attempt == 1)
            {
            }
        }
    }
}
