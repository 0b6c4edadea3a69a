using Microsoft.EntityFrameworkCore;
using Runnel.Core.Hashing;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.FanOut.Mappings;

/// <summary>
/// Appends an on-failure invocation record to a stream, routed like a PutRecord (partition key -> MD5 hash key ->
/// the open shard whose range holds it) and written straight to the shard's owner at its placement epoch. A shard
/// that was sealed or moved meanwhile is looked up again.
/// </summary>
public sealed class FailureDestination(IDbContextFactory<MetadataDbContext> dbFactory, IShardStoreLocator locator)
{
    /// <summary>Returns the sequence number the record got.</summary>
    public async Task<string> AppendAsync(string streamArn, string partitionKey, byte[] data, CancellationToken ct)
    {
        if (!Arns.TryParseStream(streamArn, out var name))
            throw new InvalidOperationException($"{streamArn} is not a stream ARN.");
        var key = HashKeys.FromPartitionKey(partitionKey);
        for (var attempt = 1; ; attempt++)
        {
            ShardRef shard;
            string node;
            long epoch;
            await using (var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false))
            {
                var stream = await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Name == name, ct).ConfigureAwait(false);
                if (stream is null || stream.Status is StreamStatuses.Deleting or StreamStatuses.Creating)
                    throw new InvalidOperationException($"The on-failure destination {streamArn} is not an active stream.");
                var open = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id && s.EndingSequenceNumber == null)
                    .ToListAsync(ct).ConfigureAwait(false);
                var target = open.FirstOrDefault(s => key >= s.HashKeyStart && key <= s.HashKeyEnd)
                    ?? throw new InvalidOperationException($"No open shard of {streamArn} holds the hash key.");
                shard = new ShardRef(stream.Id, target.ShardIndex);
                var owner = await locator.OwnerAsync(db, shard, ct).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"Shard {target.ShardIndex} of {streamArn} has no placement.");
                node = owner.NodeId;
                epoch = owner.Epoch;
            }
            try
            {
                var result = await locator.ForNode(node).AppendAsync(shard, epoch, [new AppendRecord(partitionKey, data)], ct).ConfigureAwait(false);
                return new SequenceNumber(shard.ShardIndex, result.FirstOrdinal).ToString();
            }
            catch (Exception e) when (attempt < 50 && e is ShardSealedException or ShardNotOwnedException or ShardStoreUnavailableException)
            {
                // A resharding seals the parent before it commits the children: wait for the table to show them.
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 * attempt)), ct).ConfigureAwait(false);
            }
        }
    }
}
