using Microsoft.EntityFrameworkCore;
using Runnel.Metadata;

namespace Runnel.Firehose.Delivery;

/// <summary>Another replica took the lease, or the delivery stream was deleted: this one must stop delivering.</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>
/// One held (delivery stream, source shard) lease, with the operations of the event source mappings' lease keeper
/// (take, renew, checkpoint, release). Every write is conditional on this process still being the owner, so a replica
/// that lost the lease (paused past its expiry, partitioned) can neither renew it nor move the checkpoint.
/// </summary>
public sealed class ShardLease(IDbContextFactory<MetadataDbContext> dbFactory, string application, long streamId, int shardIndex, string owner, TimeSpan duration, TimeProvider time)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public int ShardIndex => shardIndex;

    /// <summary>Takes the lease if it is free or expired (as read with <paramref name="counter"/>); false when another replica won.</summary>
    public async Task<bool> TakeAsync(long counter, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var taken = await Row(db).Where(l => l.LeaseCounter == counter)
            .ExecuteUpdateAsync(s => s
                .SetProperty(l => l.LeaseOwner, owner)
                .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1)
                .SetProperty(l => l.LeaseExpiresAt, time.GetUtcNow() + duration), ct).ConfigureAwait(false);
        return taken == 1;
    }

    /// <summary>The checkpoint as it is now; read after taking the lease, when no one else can move it.</summary>
    public async Task<string?> ReadCheckpointAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await Row(db).AsNoTracking().Select(l => l.Checkpoint).FirstOrDefaultAsync(ct).ConfigureAwait(false);
    }

    public Task RenewAsync(CancellationToken ct) => WriteAsync(null, ct);

    public Task CheckpointAsync(string? checkpoint, CancellationToken ct) => WriteAsync(checkpoint ?? "", ct);

    /// <summary>Gives the lease up so any replica can take it at once.</summary>
    public async Task ReleaseAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await Row(db).Where(l => l.LeaseOwner == owner)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.LeaseOwner, (string?)null).SetProperty(l => l.LeaseExpiresAt, (DateTimeOffset?)null), ct)
            .ConfigureAwait(false);
    }

    private IQueryable<Metadata.Entities.LeaseEntity> Row(MetadataDbContext db) =>
        db.Leases.Where(l => l.ApplicationName == application && l.StreamId == streamId && l.ShardIndex == shardIndex);

    /// <summary>Renews (<paramref name="checkpoint"/> null) or moves the checkpoint too ("" stands for none).</summary>
    private async Task WriteAsync(string? checkpoint, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var expires = time.GetUtcNow() + duration;
            await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
            var query = Row(db).Where(l => l.LeaseOwner == owner);
            var stored = checkpoint is { Length: 0 } ? null : checkpoint;
            var rows = checkpoint is null
                ? await query.ExecuteUpdateAsync(s => s
                    .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1)
                    .SetProperty(l => l.LeaseExpiresAt, expires), ct).ConfigureAwait(false)
                : await query.ExecuteUpdateAsync(s => s
                    .SetProperty(l => l.Checkpoint, stored)
                    .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1)
                    .SetProperty(l => l.LeaseExpiresAt, expires), ct).ConfigureAwait(false);
            if (rows == 0)
                throw new LeaseLostException($"Lease {application} on shard {shardIndex} is no longer held by {owner}.");
        }
        finally
        {
            _gate.Release();
        }
    }
}
