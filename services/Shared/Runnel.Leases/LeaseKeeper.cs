using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Runnel.Metadata;

namespace Runnel.Leases;

/// <summary>Thrown when another replica took the lease (or its work item was deleted): this one must stop working on it.</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>
/// One held (application, shard) lease. Every write is conditional on this process still being the owner, so a replica
/// that lost the lease (paused past its expiry, partitioned) can neither renew it nor move the checkpoint.
/// </summary>
public sealed class LeaseKeeper(IDbContextFactory<MetadataDbContext> dbFactory, string application, long streamId, int shardIndex, string owner, TimeSpan duration, TimeProvider time)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public int ShardIndex => shardIndex;

    public Task RenewAsync(CancellationToken ct) => WriteAsync(moveCheckpoint: false, null, ct);

    /// <summary>Moves the checkpoint (null: back to none) and renews the lease, if it is still held.</summary>
    public Task CheckpointAsync(string? checkpoint, CancellationToken ct) => WriteAsync(moveCheckpoint: true, checkpoint, ct);

    /// <summary>Gives the lease up so any replica can take it at once.</summary>
    public async Task ReleaseAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await db.Leases.Where(l => l.ApplicationName == application && l.StreamId == streamId && l.ShardIndex == shardIndex && l.LeaseOwner == owner)
            .ExecuteUpdateAsync(s => s.SetProperty(l => l.LeaseOwner, (string?)null).SetProperty(l => l.LeaseExpiresAt, (DateTimeOffset?)null), ct)
            .ConfigureAwait(false);
    }

    /// <summary>
    /// Renews every third of the lease duration until <paramref name="ct"/> ends. Cancels <paramref name="stop"/> when
    /// the lease is lost, or when the metadata store failed so long that the next attempt would come after the expiry:
    /// another replica may take the lease then, so a holder cut off from the store stops working by its own clock.
    /// </summary>
    public async Task RenewWhileHeldAsync(CancellationTokenSource stop, ILogger logger, CancellationToken ct)
    {
        var every = duration / 3;
        var renewed = time.GetUtcNow();
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(every, time, ct).ConfigureAwait(false);
            try
            {
                var attempt = time.GetUtcNow();
                await RenewAsync(ct).ConfigureAwait(false);
                renewed = attempt;
            }
            catch (LeaseLostException)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not OperationCanceledException)
            {
                // A hiccup of the store: try again; the lease lasts three renewal periods.
                logger.LogDebug(e, "Lease renewal failed");
                if (time.GetUtcNow() + every - renewed >= duration)
                {
                    logger.LogWarning("Lease {Application} on shard {Shard} could not be renewed; stopping before it runs out", application, shardIndex);
                    await stop.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the held lease: renews it meanwhile (<see cref="RenewWhileHeldAsync"/>, which
    /// cancels <paramref name="stop"/> when the lease is lost) and gives it up when the work ends, however it ends.
    /// Returns what the work failed with (a <see cref="LeaseLostException"/> included), or null when it finished or was
    /// stopped; the caller words the failure.
    /// </summary>
    public async Task<Exception?> RunWhileHeldAsync(CancellationTokenSource stop, ILogger logger, Func<CancellationToken, Task> work)
    {
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var renewal = RenewWhileHeldAsync(stop, logger, renewing.Token);
        try
        {
            await work(stop.Token).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
        finally
        {
            await renewing.CancelAsync().ConfigureAwait(false);
            try
            {
                await renewal.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            try
            {
                // Bounded: a store that does not answer leaves the lease to expire instead.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await ReleaseAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogDebug(e, "Releasing the lease {Application} on shard {Shard} failed; it expires instead", application, shardIndex);
            }
        }
    }

    private async Task WriteAsync(bool moveCheckpoint, string? checkpoint, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var expires = time.GetUtcNow() + duration;
            await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
            var query = db.Leases.Where(l => l.ApplicationName == application && l.StreamId == streamId && l.ShardIndex == shardIndex && l.LeaseOwner == owner);
            var rows = !moveCheckpoint
                ? await query.ExecuteUpdateAsync(s => s
                    .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1)
                    .SetProperty(l => l.LeaseExpiresAt, expires), ct).ConfigureAwait(false)
                : await query.ExecuteUpdateAsync(s => s
                    .SetProperty(l => l.Checkpoint, checkpoint)
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
