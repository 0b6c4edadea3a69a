using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Leases;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.FanOut.Mappings;

/// <summary>
/// Progress of a mapping on one shard lives in a <c>leases</c> row (ApplicationName <c>esm:UUID</c>). Checkpoint is
/// null before any record was finished (start at the oldest retained record), the sequence number of the last
/// finished record, or <see cref="ShardEnd"/> once every record of a sealed shard was finished.
/// </summary>
public static class MappingLeases
{
    public const string ShardEnd = "SHARD_END";

    public static string Application(string uuid) => EventSourceMappingEntity.LeaseApplicationPrefix + uuid;

    /// <summary>The first ordinal still to deliver after <paramref name="checkpoint"/>; null for a finished shard.</summary>
    public static ulong? NextOrdinal(string? checkpoint)
    {
        if (checkpoint is null)
            return 0;
        if (checkpoint == ShardEnd)
            return null;
        return SequenceNumber.TryParse(checkpoint, out var s) ? s.Ordinal + 1 : 0;
    }

    /// <summary>The checkpoint that makes delivery start at <paramref name="ordinal"/>.</summary>
    public static string? Before(int shardIndex, ulong ordinal) => ordinal == 0 ? null : new SequenceNumber(shardIndex, ordinal - 1).ToString();

    /// <summary>
    /// Adds a row for every shard of the stream that has none. Shards present when the mapping is created start at its
    /// starting position (<paramref name="startOf"/>); shards found later are children of a resharding and start at
    /// their beginning, after their parents.
    /// </summary>
    public static async Task<int> SeedAsync(
        MetadataDbContext db, EventSourceMappingEntity mapping, Func<ShardEntity, Task<string?>>? startOf, CancellationToken ct)
    {
        var application = Application(mapping.Uuid);
        var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == mapping.StreamId).ToListAsync(ct).ConfigureAwait(false);
        var existing = await db.Leases.AsNoTracking().Where(l => l.ApplicationName == application)
            .Select(l => l.ShardIndex).ToListAsync(ct).ConfigureAwait(false);
        var added = 0;
        foreach (var shard in shards.Where(s => !existing.Contains(s.ShardIndex)).OrderBy(s => s.ShardIndex))
        {
            db.Leases.Add(new LeaseEntity
            {
                ApplicationName = application,
                StreamId = mapping.StreamId,
                ShardIndex = shard.ShardIndex,
                Checkpoint = startOf is null ? null : await startOf(shard).ConfigureAwait(false),
                ParentShardIndexes = ShardLeases.ParentsOf(shard),
            });
            added++;
        }
        return added;
    }

    /// <summary>Where a shard present at creation starts for the mapping's starting position.</summary>
    public static async Task<string?> StartOfAsync(
        ShardEntity shard, string startingPosition, DateTimeOffset? timestamp, IShardStoreLocator locator, MetadataDbContext db, CancellationToken ct)
    {
        if (startingPosition == "TRIM_HORIZON")
            return null;
        if (startingPosition == "LATEST" && shard.EndingSequenceNumber is not null)
            return ShardEnd;
        var shardRef = new ShardRef(shard.StreamId, shard.ShardIndex);
        if (await locator.OwnerAsync(db, shardRef, ct).ConfigureAwait(false) is not { Store: var store })
            return null;
        var ordinal = startingPosition == "LATEST"
            ? (await store.GetStateAsync(shardRef, ct).ConfigureAwait(false)).NextOrdinal
            : await store.FindOrdinalAsync(shardRef, (timestamp ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds(), ct).ConfigureAwait(false);
        return Before(shard.ShardIndex, ordinal);
    }
}
