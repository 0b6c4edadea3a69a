using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Firehose.Api;
using Runnel.Firehose.Destinations;
using Runnel.Leases;
using Runnel.ServiceDefaults.Objects;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// Runs delivery. Every scan (and whenever this process changed a delivery stream) it announces this replica, adds
/// lease rows for source shards born of a resharding, stops deliveries of deleted or updated delivery streams, and takes
/// leases whose parent shards are delivered to their end up to its fair share among the live replicas
/// (<see cref="LeaseBalancer"/>, the event source mappings' and SQL applications' balancer), stealing one per steal
/// interval from a replica above the share; it starts a <see cref="ShardDelivery"/> for each. Leases are renewed every
/// third of their duration; when a replica dies another takes its shards after the duration and continues from the
/// checkpoint.
/// </summary>
public sealed class DeliveryService(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IObjectStore objects,
    HttpEndpointSender sender,
    RecordTransformer transformer,
    DeliveryLeases leases,
    DeliverySignal signal,
    FirehoseMetrics metrics,
    IOptions<FirehoseOptions> options,
    ServiceIdentity identity,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    /// <summary>ApplicationName prefix of the rows by which replicas announce themselves.</summary>
    public const string WorkerPrefix = "firehose-worker:";

    private readonly FirehoseOptions _options = options.Value;
    private readonly ILogger _logger = loggers.CreateLogger<DeliveryService>();
    private readonly Dictionary<(long Id, int Shard), Running> _running = [];
    private DateTimeOffset _lastSteal = DateTimeOffset.MinValue;
    private DateTimeOffset _lastCleanup = DateTimeOffset.MinValue;

    /// <summary>Unique per process: a restarted replica must not mistake its predecessor's leases for its own.</summary>
    public string Owner { get; } = $"{identity.NodeName}/{Guid.NewGuid():N}";

    /// <summary>The (delivery stream id, shard) leases this replica delivers now.</summary>
    public IReadOnlyList<(long Id, int Shard)> HeldLeases
    {
        get
        {
            lock (_running)
                return [.. _running.Keys];
        }
    }

    private TimeSpan LeaseDuration => TimeSpan.FromSeconds(_options.LeaseSeconds);

    private sealed record Running(CancellationTokenSource Stop, Task Task, long Version);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.DeliveryEnabled)
            return;
        var interval = TimeSpan.FromMilliseconds(_options.ScanIntervalMilliseconds);
        try
        {
            if (_options.BalanceLeases)
            {
                // Announce first and take leases from the next scan on: replicas started together then see each other
                // before the first of them takes every free lease (which stealing would undo, one lease at a time).
                try
                {
                    await using var db = await dbFactory.CreateDbContextAsync(stoppingToken).ConfigureAwait(false);
                    await AnnounceAsync(db, time.GetUtcNow(), stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Announcing this delivery replica failed");
                }
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false);
            }
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await ScanAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Delivery scan failed");
                }
                await signal.WaitAsync(interval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var key in RunningKeys())
                await StopAsync(key).ConfigureAwait(false);
            await LeaseTable.WithdrawAsync(dbFactory, WorkerPrefix, Owner, _logger).ConfigureAwait(false);
        }
    }

    private Task<IReadOnlyList<string>> AnnounceAsync(MetadataDbContext db, DateTimeOffset now, CancellationToken ct)
    {
        var cleanup = now - _lastCleanup > TimeSpan.FromMinutes(1);
        if (cleanup)
            _lastCleanup = now;
        return LeaseTable.AnnounceAsync(db, WorkerPrefix, Owner, _options.WorkerExpiry, now, cleanup, ct);
    }

    private List<(long Id, int Shard)> RunningKeys()
    {
        lock (_running)
            return [.. _running.Keys];
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        lock (_running)
            foreach (var (key, _) in _running.Where(r => r.Value.Task.IsCompleted).ToList())
                _running.Remove(key);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var live = await AnnounceAsync(db, now, ct).ConfigureAwait(false);
        var streams = await db.DeliveryStreams.AsNoTracking().ToListAsync(ct).ConfigureAwait(false);
        var byId = streams.ToDictionary(d => d.Id);
        foreach (var key in RunningKeys())
        {
            if (!byId.TryGetValue(key.Id, out var d) || d.Status != DeliveryStreamStatuses.Active || d.VersionId != _running[key].Version)
                await StopAsync(key).ConfigureAwait(false);
        }
        var active = streams.Where(d => d.Status == DeliveryStreamStatuses.Active).ToDictionary(d => DeliveryStreamEntity.LeaseApplication(d.Id));
        if (active.Count == 0)
            return;
        foreach (var d in active.Values)
        {
            if (await leases.SeedAsync(db, d, startAtLatest: false, ct).ConfigureAwait(false) == 0)
                continue;
            try
            {
                await db.SaveChangesAsync(ct).ConfigureAwait(false);
            }
            catch (DbUpdateException)
            {
                // Another replica added the same rows first.
            }
            db.ChangeTracker.Clear();
        }

        var rows = await db.Leases.AsNoTracking().Where(l => l.ApplicationName.StartsWith(DeliveryStreamEntity.LeaseApplicationPrefix))
            .ToListAsync(ct).ConfigureAwait(false);
        now = time.GetUtcNow();
        var deliverable = new List<LeaseView>();
        foreach (var group in rows.Where(l => active.ContainsKey(l.ApplicationName)).GroupBy(l => l.ApplicationName))
        {
            var d = active[group.Key];
            var leases = group.ToList();
            foreach (var lease in leases.Where(l => IsRunning((d.Id, l.ShardIndex)) && l.LeaseOwner != Owner))
            {
                // Taken by another replica (a steal, or our renewals failed past the expiry): stop at once rather
                // than at the next failed renewal.
                _logger.LogInformation("Firehose {Name}: lease of shard {Shard} is now held by {Owner}; stopping here", d.Name, lease.ShardIndex, lease.LeaseOwner);
                await StopAsync((d.Id, lease.ShardIndex)).ConfigureAwait(false);
            }
            deliverable.AddRange(ShardLeases.Workable(leases, DeliveryCheckpoint.ShardEnd));
        }

        var plan = LeaseBalancer.Plan(deliverable, live, Owner, now, _options.BalanceLeases,
            maySteal: now - _lastSteal >= TimeSpan.FromMilliseconds(_options.StealIntervalMilliseconds));
        // Ours by the table but not running here (a delivery that failed): run it again; it is within our share.
        var restart = deliverable.Where(l => l.Owner == Owner && l.IsHeldAt(now) && !IsRunning((active[l.Application].Id, l.ShardIndex)));
        foreach (var lease in restart.Concat(plan.Take).ToList())
        {
            var d = active[lease.Application];
            if (!IsRunning((d.Id, lease.ShardIndex)))
                await TakeAsync(db, d, lease, victim: null, now, ct).ConfigureAwait(false);
        }
        if (plan.Steal is { } steal)
        {
            var d = active[steal.Application];
            _lastSteal = now;
            if (await TakeAsync(db, d, steal, plan.Victim, now, ct).ConfigureAwait(false))
                _logger.LogInformation("Firehose {Name}: took shard {Shard} from {Victim} to reach a fair share of {Target} leases over {Workers} replicas",
                    d.Name, steal.ShardIndex, plan.Victim, plan.Target, plan.Workers);
        }
    }

    private bool IsRunning((long Id, int Shard) key)
    {
        lock (_running)
            return _running.ContainsKey(key);
    }

    /// <summary>
    /// Takes a lease with a conditional update on its counter (and, for a steal, on its owner), so of two replicas
    /// taking the same lease at once exactly one wins, and starts delivering the shard from the checkpoint read after
    /// the take.
    /// </summary>
    private async Task<bool> TakeAsync(MetadataDbContext db, DeliveryStreamEntity d, LeaseView lease, string? victim, DateTimeOffset now, CancellationToken ct)
    {
        var (taken, checkpoint) = await LeaseTable.TryTakeAsync(db, lease, Owner, victim, LeaseDuration, now, ct).ConfigureAwait(false);
        if (!taken)
            return false;
        var keeper = new LeaseKeeper(dbFactory, lease.Application, lease.StreamId, lease.ShardIndex, Owner, LeaseDuration, time);
        var http = HttpEndpointDestination.FromStored(d.DestinationConfig);
        var context = new ShardDeliveryContext(d, http?.Backup ?? S3Destination.FromJson(d.DestinationConfig), http, keeper, checkpoint);
        var stop = new CancellationTokenSource();
        _logger.LogInformation("Firehose {Name} took shard {Shard} from {Checkpoint}", d.Name, lease.ShardIndex, checkpoint ?? "its start");
        // A stolen lease's former owner learns of the loss at its next renewal or scan; starting one renewal period
        // later keeps the two from writing the same objects side by side (their names are derived from the source
        // range, so a repeat overwrites, it does not double).
        var handover = victim is null ? TimeSpan.Zero : LeaseDuration / 3;
        lock (_running)
            _running[(d.Id, lease.ShardIndex)] = new Running(stop, RunAsync(context, stop, handover), d.VersionId);
        return true;
    }

    private async Task RunAsync(ShardDeliveryContext context, CancellationTokenSource stop, TimeSpan handover)
    {
        await Task.Yield();
        var lease = context.Lease;
        var delivery = new ShardDelivery(context, dbFactory, locator, objects, sender, transformer, metrics, _options, time, loggers.CreateLogger<ShardDelivery>());
        try
        {
            var failure = await lease.RunWhileHeldAsync(stop, _logger, async ct =>
            {
                if (handover > TimeSpan.Zero)
                    await Task.Delay(handover, time, ct).ConfigureAwait(false);
                await delivery.RunAsync(ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            if (failure is LeaseLostException)
                _logger.LogInformation("Firehose {Name} stopped on shard {Shard}: {Reason}", context.DeliveryStream.Name, lease.ShardIndex, failure.Message);
            else if (failure is not null)
                _logger.LogWarning(failure, "Firehose {Name} failed on shard {Shard}; it is retried on the next scan", context.DeliveryStream.Name, lease.ShardIndex);
        }
        finally
        {
            signal.Pulse();
        }
    }

    private async Task StopAsync((long Id, int Shard) key)
    {
        Running? run;
        lock (_running)
            if (!_running.Remove(key, out run))
                return;
        await run.Stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await run.Task.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "Delivery of {Id} on shard {Shard} ended with an error", key.Id, key.Shard);
        }
        run.Stop.Dispose();
    }
}
