using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Leases;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;

namespace Runnel.FanOut.Mappings;

/// <summary>
/// Runs event source mappings. Every scan (and whenever this process changed a mapping) it announces this replica,
/// settles transitional states, adds lease rows for shards born from a resharding, and takes leases of enabled mappings
/// whose parents are finished up to its fair share among the live replicas (<see cref="LeaseBalancer"/>), stealing one
/// per steal interval from a replica above the share; it starts a <see cref="ShardDelivery"/> for each. Leases are
/// renewed every third of their duration; a replica that dies stops renewing and another takes its shards over after
/// the duration, from the last checkpoint (at least once, never a gap). A replica whose lease was stolen stops that
/// shard at its next scan or renewal; its checkpoint writes already fail. Deliveries of a disabled, changed or deleted
/// mapping are stopped and their leases given up.
/// </summary>
public sealed class MappingDeliveryService(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IHttpClientFactory clients,
    FailureDestination destination,
    MappingMetrics metrics,
    MappingSignal signal,
    IOptions<MappingOptions> mappingOptions,
    IOptions<FanOutOptions> fanOutOptions,
    ServiceIdentity identity,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    public const string HttpClientName = "Runnel.FanOut.Mappings";

    private readonly MappingOptions _options = mappingOptions.Value;
    private readonly ILogger _logger = loggers.CreateLogger<MappingDeliveryService>();
    private readonly Dictionary<(string Uuid, int Shard), Running> _running = [];
    private readonly ConcurrentDictionary<string, string> _reported = new();

    /// <summary>ApplicationName prefix of the rows by which replicas announce themselves.</summary>
    public const string WorkerPrefix = "esm-worker:";

    private DateTimeOffset _lastSteal = DateTimeOffset.MinValue;
    private DateTimeOffset _lastCleanup = DateTimeOffset.MinValue;
    private volatile IReadOnlyList<(string Uuid, int Shard)> _held = [];

    /// <summary>Unique per process: a restarted replica must not mistake its predecessor's leases for its own.</summary>
    public string Owner { get; } = $"{identity.NodeName}/{Guid.NewGuid():N}";


    /// <summary>The (mapping, shard) leases this replica delivered at its last scan.</summary>
    public IReadOnlyList<(string Uuid, int Shard)> HeldLeases => _held;

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
                    _logger.LogWarning(e, "Announcing this event source mapping replica failed");
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
                    _logger.LogWarning(e, "Event source mapping scan failed");
                }
                await signal.WaitAsync(interval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var key in _running.Keys.ToList())
                await StopAsync(key).ConfigureAwait(false);
            await LeaseTable.WithdrawAsync(dbFactory, WorkerPrefix, Owner, _logger).ConfigureAwait(false);
        }
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        foreach (var (key, run) in _running.Where(r => r.Value.Task.IsCompleted).ToList())
            _running.Remove(key);

        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var live = await AnnounceAsync(db, now, ct).ConfigureAwait(false);
        var mappings = await db.EventSourceMappings.AsNoTracking().ToListAsync(ct).ConfigureAwait(false);
        foreach (var m in mappings.Where(m => MappingStates.IsTransitional(m.State)))
        {
            var settled = m.Enabled ? MappingStates.Enabled : MappingStates.Disabled;
            var rows = await db.EventSourceMappings.Where(x => x.Uuid == m.Uuid && x.Version == m.Version)
                .ExecuteUpdateAsync(s => s.SetProperty(x => x.State, settled).SetProperty(x => x.Version, x => x.Version + 1), ct).ConfigureAwait(false);
            if (rows == 1)
            {
                m.State = settled;
                m.Version++;
            }
        }

        var byUuid = mappings.ToDictionary(m => m.Uuid);
        foreach (var key in _running.Keys.ToList())
        {
            if (!byUuid.TryGetValue(key.Uuid, out var m) || m.State != MappingStates.Enabled || m.Version != _running[key].Version)
                await StopAsync(key).ConfigureAwait(false);
        }

        var streams = mappings.Count == 0 ? [] : await db.Streams.AsNoTracking().ToDictionaryAsync(s => s.Id, ct).ConfigureAwait(false);
        var active = new Dictionary<string, (EventSourceMappingEntity Mapping, StreamEntity Stream)>(StringComparer.Ordinal);
        foreach (var m in mappings.Where(m => m.State == MappingStates.Enabled))
        {
            if (!streams.TryGetValue(m.StreamId, out var stream) || stream.Status == StreamStatuses.Deleting)
            {
                await ReportAsync(m.Uuid, "PROBLEM: Stream not found").ConfigureAwait(false);
                continue;
            }
            await SeedAsync(db, m, ct).ConfigureAwait(false);
            active[MappingLeases.Application(m.Uuid)] = (m, stream);
        }
        await BalanceAsync(db, active, live, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Announces this replica (a <c>leases</c> row <c>esm-worker:OWNER</c> that expires after the worker expiry) and
    /// returns the replicas whose announcement has not expired. Rows of replicas gone for an hour are removed.
    /// </summary>
    private async Task<IReadOnlyList<string>> AnnounceAsync(MetadataDbContext db, DateTimeOffset now, CancellationToken ct)
    {
        var cleanup = now - _lastCleanup > TimeSpan.FromMinutes(1);
        if (cleanup)
            _lastCleanup = now;
        return await LeaseTable.AnnounceAsync(db, WorkerPrefix, Owner, _options.WorkerExpiry, now, cleanup, ct).ConfigureAwait(false);
    }

    /// <summary>Adds lease rows for shards of the mapping's stream that have none (children of a resharding).</summary>
    private static async Task SeedAsync(MetadataDbContext db, EventSourceMappingEntity m, CancellationToken ct)
    {
        if (await MappingLeases.SeedAsync(db, m, null, ct).ConfigureAwait(false) == 0)
            return;
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

    /// <summary>
    /// Looks at every lease of the enabled mappings: stops deliveries whose lease another replica took, restarts ours
    /// that ended, and takes (and at most once per steal interval steals) leases as <see cref="LeaseBalancer"/> plans.
    /// </summary>
    private async Task BalanceAsync(
        MetadataDbContext db, Dictionary<string, (EventSourceMappingEntity Mapping, StreamEntity Stream)> active, IReadOnlyList<string> live, CancellationToken ct)
    {
        var rows = active.Count == 0 ? [] : await db.Leases.AsNoTracking()
            .Where(l => l.ApplicationName.StartsWith(EventSourceMappingEntity.LeaseApplicationPrefix)).ToListAsync(ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var deliverable = new List<LeaseView>();
        foreach (var group in rows.Where(l => active.ContainsKey(l.ApplicationName)).GroupBy(l => l.ApplicationName))
        {
            var uuid = active[group.Key].Mapping.Uuid;
            var leases = group.ToList();
            foreach (var lease in leases.Where(l => _running.ContainsKey((uuid, l.ShardIndex)) && l.LeaseOwner != Owner))
            {
                // Taken by another replica (a steal, or our renewals failed past the expiry): stop at once rather
                // than at the next failed renewal.
                _logger.LogInformation("Mapping {Mapping}: lease of shard {Shard} is now held by {Owner}; stopping here", uuid, lease.ShardIndex, lease.LeaseOwner);
                await StopAsync((uuid, lease.ShardIndex)).ConfigureAwait(false);
            }
            deliverable.AddRange(ShardLeases.Workable(leases, MappingLeases.ShardEnd));
        }

        var plan = LeaseBalancer.Plan(deliverable, live, Owner, now, _options.BalanceLeases,
            maySteal: now - _lastSteal >= TimeSpan.FromMilliseconds(_options.StealIntervalMilliseconds));
        // Ours by the table but not running here (a delivery that failed): run it again; it is within our share.
        var restart = deliverable.Where(l => l.Owner == Owner && l.IsHeldAt(now) && !_running.ContainsKey((active[l.Application].Mapping.Uuid, l.ShardIndex)));
        foreach (var lease in restart.Concat(plan.Take))
        {
            var (m, stream) = active[lease.Application];
            if (!_running.ContainsKey((m.Uuid, lease.ShardIndex)))
                await TakeAsync(db, m, stream, lease, victim: null, now, ct).ConfigureAwait(false);
        }
        if (plan.Steal is { } steal)
        {
            var (m, stream) = active[steal.Application];
            _lastSteal = now;
            if (await TakeAsync(db, m, stream, steal, plan.Victim, now, ct).ConfigureAwait(false))
            {
                metrics.Stole(m.Uuid);
                _logger.LogInformation("Mapping {Mapping}: took shard {Shard} from {Victim} to reach a fair share of {Target} leases over {Workers} replicas",
                    m.Uuid, steal.ShardIndex, plan.Victim, plan.Target, plan.Workers);
            }
        }
        var held = _running.Keys.GroupBy(k => k.Uuid).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        _held = [.. _running.Keys];
        metrics.Balanced(held, plan.Workers);
    }

    /// <summary>
    /// Takes a lease with a conditional update on its counter (and, for a steal, on its owner), so of two replicas
    /// taking or stealing the same lease at once exactly one wins, and starts delivering it.
    /// </summary>
    private async Task<bool> TakeAsync(
        MetadataDbContext db, EventSourceMappingEntity m, StreamEntity stream, LeaseView lease, string? victim, DateTimeOffset now, CancellationToken ct)
    {
        var duration = TimeSpan.FromSeconds(_options.LeaseSeconds);
        var (taken, checkpoint) = await LeaseTable.TryTakeAsync(db, lease, Owner, victim, duration, now, ct).ConfigureAwait(false);
        if (!taken)
            return false;
        var keeper = new LeaseKeeper(dbFactory, lease.Application, lease.StreamId, lease.ShardIndex, Owner, duration, time);
        if (MappingLeases.NextOrdinal(checkpoint) is not { } start)
        {
            await keeper.ReleaseAsync(ct).ConfigureAwait(false);
            return false;
        }
        var source = new EventSource(m.EventSourceArn, ShardIds.Format(lease.ShardIndex), lease.ShardIndex, fanOutOptions.Value.Region, fanOutOptions.Value.AccountId);
        var context = new ShardDeliveryContext(m, stream.Name, TimeSpan.FromHours(stream.RetentionHours), source, start, keeper);
        var stop = new CancellationTokenSource();
        _logger.LogInformation("Mapping {Mapping} took {Shard} of {Stream} from {Checkpoint}", m.Uuid, source.ShardId, stream.Name, checkpoint ?? "its start");
        // A stolen lease's former owner learns of the loss at its next renewal or scan; starting one renewal period
        // later keeps the two from delivering the same records side by side (a repeat is still possible, a gap is not).
        var handover = victim is null ? TimeSpan.Zero : TimeSpan.FromSeconds(_options.LeaseSeconds / 3.0);
        _running[(m.Uuid, lease.ShardIndex)] = new Running(stop, RunAsync(context, keeper, stop, handover), m.Version);
        return true;
    }

    private async Task RunAsync(ShardDeliveryContext context, LeaseKeeper keeper, CancellationTokenSource stop, TimeSpan handover)
    {
        await Task.Yield();
        var m = context.Mapping;
        var delivery = new ShardDelivery(context, dbFactory, locator, clients.CreateClient(HttpClientName), destination, metrics, _options,
            result => _ = ReportAsync(m.Uuid, result), time, loggers.CreateLogger<ShardDelivery>());
        try
        {
            var failure = await keeper.RunWhileHeldAsync(stop, _logger, async ct =>
            {
                if (handover > TimeSpan.Zero)
                    await Task.Delay(handover, time, ct).ConfigureAwait(false);
                await delivery.RunAsync(ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            if (failure is LeaseLostException)
                _logger.LogInformation("Mapping {Mapping} stopped on {Shard}: {Reason}", m.Uuid, context.Source.ShardId, failure.Message);
            else if (failure is not null)
                _logger.LogWarning(failure, "Mapping {Mapping} failed on {Shard}; it is retried on the next scan", m.Uuid, context.Source.ShardId);
        }
        finally
        {
            signal.Pulse();
        }
    }

    private async Task StopAsync((string Uuid, int Shard) key)
    {
        if (!_running.Remove(key, out var run))
            return;
        await run.Stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await run.Task.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "Delivery of {Mapping} on shard {Shard} ended with an error", key.Uuid, key.Shard);
        }
        run.Stop.Dispose();
    }

    /// <summary>LastProcessingResult, written only when it changes.</summary>
    private async Task ReportAsync(string uuid, string result)
    {
        if (_reported.TryGetValue(uuid, out var previous) && previous == result)
            return;
        _reported[uuid] = result;
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync().ConfigureAwait(false);
            await db.EventSourceMappings.Where(m => m.Uuid == uuid)
                .ExecuteUpdateAsync(s => s.SetProperty(m => m.LastProcessingResult, result)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.LogDebug(e, "Recording the processing result of {Mapping} failed", uuid);
        }
    }
}
