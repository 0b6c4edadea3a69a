using Microsoft.EntityFrameworkCore;
using Runnel.Core.Hashing;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Analytics.Runner;

/// <summary>
/// KinesisStreamsOutput and KinesisFirehoseOutput: appends records to a Runnel data stream (a delivery stream's backing
/// stream for the latter, see <see cref="RecordStreams"/>), routed as PutRecords routes them (partition key ->
/// MD5 hash key -> the open shard whose range holds it) and written to each shard's owner at its placement epoch.
/// Records are written before the checkpoint that covers them, so after a crash some may be written again: at least
/// once.
/// </summary>
public sealed class StreamSink(IDbContextFactory<MetadataDbContext> dbFactory, IShardStoreLocator locator, string arn)
{
    public async Task AppendAsync(IReadOnlyList<AppendRecord> records, CancellationToken ct)
    {
        var remaining = records;
        for (var attempt = 1; remaining.Count > 0; attempt++)
        {
            List<(ShardEntity Shard, ShardPlacementEntity Placement)> open;
            long streamId;
            await using (var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false))
            {
                var stream = await RecordStreams.ResolveAsync(db, arn, forWrite: true, ct).ConfigureAwait(false);
                if (stream.Status == StreamStatuses.Creating)
                    throw new InvalidOperationException($"The output {arn} is not active yet.");
                streamId = stream.Id;
                var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id && s.EndingSequenceNumber == null).ToListAsync(ct).ConfigureAwait(false);
                var placements = await ShardOwners.PlacementsAsync(db, stream.Id, null, ct).ConfigureAwait(false);
                open = [.. shards.Join(placements, s => s.ShardIndex, p => p.ShardIndex, (s, p) => (s, p))];
            }
            var failed = new List<AppendRecord>();
            foreach (var group in remaining.GroupBy(r =>
                     {
                         var key = HashKeys.FromPartitionKey(r.PartitionKey);
                         return open.FindIndex(o => key >= o.Shard.HashKeyStart && key <= o.Shard.HashKeyEnd);
                     }))
            {
                if (group.Key < 0)
                {
                    failed.AddRange(group);
                    continue;
                }
                var (shard, placement) = open[group.Key];
                try
                {
                    await locator.ForNode(placement.NodeId).AppendAsync(new ShardRef(streamId, shard.ShardIndex), placement.Epoch, [.. group], ct).ConfigureAwait(false);
                }
                catch (Exception e) when (attempt < 50 && e is ShardSealedException or ShardNotOwnedException or ShardStoreUnavailableException)
                {
                    failed.AddRange(group);
                }
            }
            remaining = failed;
            if (remaining.Count > 0)
            {
                if (attempt >= 50)
                    throw new InvalidOperationException($"No open shard of {arn} took {remaining.Count} records.");
                // A resharding seals the parent before the table shows the children: look again shortly.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * attempt)), ct).ConfigureAwait(false);
            }
        }
    }
}
