using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Leases;

/// <summary>
/// The steps every kind of leased work shares on the <c>leases</c> table: replicas announce themselves in worker rows
/// (<c>&lt;workerPrefix&gt;OWNER</c>, stream 0, shard 0) and take a lease with a conditional update, so of two
/// replicas taking the same lease at once exactly one wins. Which leases exist and which may be worked on is the
/// caller's; how many to take is <see cref="LeaseBalancer"/>'s; holding one is <see cref="LeaseKeeper"/>'s.
/// </summary>
public static class LeaseTable
{
    /// <summary>Worker rows of replicas gone this long are removed.</summary>
    private static readonly TimeSpan ForgetWorkersAfter = TimeSpan.FromHours(1);

    /// <summary>
    /// Announces <paramref name="owner"/> until <paramref name="now"/> + <paramref name="expiry"/> and returns the
    /// replicas of the same kind whose announcement has not expired. With <paramref name="cleanup"/> it also removes
    /// the rows of replicas gone for an hour.
    /// </summary>
    public static async Task<IReadOnlyList<string>> AnnounceAsync(
        MetadataDbContext db, string workerPrefix, string owner, TimeSpan expiry, DateTimeOffset now, bool cleanup, CancellationToken ct)
    {
        var row = workerPrefix + owner;
        var expires = now + expiry;
        var updated = await db.Leases.Where(l => l.ApplicationName == row && l.StreamId == 0 && l.ShardIndex == 0)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.LeaseExpiresAt, expires).SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1), ct)
            .ConfigureAwait(false);
        if (updated == 0)
        {
            db.Leases.Add(new LeaseEntity { ApplicationName = row, StreamId = 0, ShardIndex = 0, LeaseOwner = owner, LeaseCounter = 1, LeaseExpiresAt = expires });
            try
            {
                await db.SaveChangesAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                db.ChangeTracker.Clear();
            }
        }
        if (cleanup)
        {
            var gone = now - ForgetWorkersAfter;
            await db.Leases.Where(l => l.ApplicationName.StartsWith(workerPrefix) && l.LeaseExpiresAt < gone).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        }
        var live = await db.Leases.AsNoTracking().Where(l => l.ApplicationName.StartsWith(workerPrefix) && l.LeaseExpiresAt > now)
            .Select(l => l.LeaseOwner).ToListAsync(ct).ConfigureAwait(false);
        return [.. live.OfType<string>()];
    }

    /// <summary>
    /// Removes <paramref name="owner"/>'s announcement on a clean stop, so the others recount their shares at once. A
    /// store that does not answer within 5 s leaves the announcement to expire instead.
    /// </summary>
    public static async Task WithdrawAsync(IDbContextFactory<MetadataDbContext> dbFactory, string workerPrefix, string owner, ILogger logger)
    {
        var row = workerPrefix + owner;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var db = await dbFactory.CreateDbContextAsync(timeout.Token).ConfigureAwait(false);
            await db.Leases.Where(l => l.ApplicationName == row && l.StreamId == 0 && l.ShardIndex == 0).ExecuteDeleteAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogDebug(e, "Removing the announcement of {Owner} failed; it expires instead", owner);
        }
    }

    /// <summary>
    /// Takes <paramref name="lease"/> for <paramref name="owner"/> with a conditional update on its counter (and, for a
    /// steal, on its owner being <paramref name="victim"/>). Returns the checkpoint read after the take, when won: the
    /// former owner can no longer move it (its writes are conditional on being the owner), so work resumes right
    /// after the last item it finished.
    /// </summary>
    public static async Task<(bool Taken, string? Checkpoint)> TryTakeAsync(
        MetadataDbContext db, LeaseView lease, string owner, string? victim, TimeSpan duration, DateTimeOffset now, CancellationToken ct)
    {
        var row = db.Leases.Where(l => l.ApplicationName == lease.Application && l.StreamId == lease.StreamId && l.ShardIndex == lease.ShardIndex);
        var counter = lease.Counter;
        // A busy victim bumps the counter with every checkpoint, so a steal that lost only to that reads the counter
        // again and retries (a few times); one that finds another owner gives up.
        for (var attempt = 1; ; attempt++)
        {
            var expected = counter;
            var query = row.Where(l => l.LeaseCounter == expected);
            if (victim is not null)
                query = query.Where(l => l.LeaseOwner == victim);
            var taken = await query.ExecuteUpdateAsync(s => s
                .SetProperty(l => l.LeaseOwner, owner)
                .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1)
                .SetProperty(l => l.LeaseExpiresAt, now + duration), ct).ConfigureAwait(false);
            if (taken == 1)
                break;
            if (victim is null || attempt == 5)
                return (false, null);
            var current = await row.AsNoTracking().Select(l => new { l.LeaseOwner, l.LeaseCounter }).FirstOrDefaultAsync(ct).ConfigureAwait(false);
            if (current is null || current.LeaseOwner != victim)
                return (false, null);
            counter = current.LeaseCounter;
        }
        var checkpoint = await row.AsNoTracking().Select(l => l.Checkpoint).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return (true, checkpoint);
    }
}
