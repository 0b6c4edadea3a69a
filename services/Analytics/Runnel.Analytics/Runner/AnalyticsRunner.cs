using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Leases;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Objects;

namespace Runnel.Analytics.Runner;

/// <summary>
/// Spreads the applications that are STARTING or RUNNING over the Analytics replicas with the shared lease library:
/// one lease per application (a <c>leases</c> row <c>sqlapp:NAME</c>, stream 0, shard 0). Every scan a replica
/// announces itself, takes free or expired leases up to its fair share (<see cref="LeaseBalancer"/>), stealing at most
/// one per steal interval from a replica above the share, and runs each application it holds; leases are renewed
/// every third of their duration, so a replica that dies loses its applications to the others after one lease
/// duration. A run stops when its lease is lost, when the application is stopped, changed (version or start) or
/// deleted; a stopped run commits its checkpoint first, and STOPPING becomes READY once no replica runs it.
/// </summary>
public sealed class AnalyticsRunner(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IObjectStore objects,
    LambdaOutputs lambdas,
    IOptions<AnalyticsOptions> options,
    ServiceIdentity identity,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    public const string LeasePrefix = "sqlapp:";
    public const string WorkerPrefix = "sqlapp-worker:";

    private readonly ILogger _logger = loggers.CreateLogger<AnalyticsRunner>();
    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);
    private DateTimeOffset _lastSteal = DateTimeOffset.MinValue;
    private DateTimeOffset _lastCleanup = DateTimeOffset.MinValue;

    /// <summary>Unique per process: a restarted replica must not mistake its predecessor's leases for its own.</summary>
    public string Owner { get; } = $"{identity.NodeName}/{Guid.NewGuid():N}";

    private sealed record Running(long RunId, long VersionId, CancellationTokenSource Stop, Task Task);

    /// <summary>Applications running in this process now.</summary>
    public IReadOnlyCollection<string> RunningApplications
    {
        get
        {
            lock (_running)
                return [.. _running.Keys];
        }
    }

    private TimeSpan LeaseDuration => TimeSpan.FromSeconds(options.Value.LeaseSeconds);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.ScanIntervalMilliseconds);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await ScanAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Analytics scan failed");
                }
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            foreach (var name in RunningApplications)
                await StopAsync(name).ConfigureAwait(false);
            await LeaseTable.WithdrawAsync(dbFactory, WorkerPrefix, Owner, _logger).ConfigureAwait(false);
        }
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var live = await LeaseTable.AnnounceAsync(db, WorkerPrefix, Owner, LeaseDuration, now, now - _lastCleanup > TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
        if (now - _lastCleanup > TimeSpan.FromMinutes(1))
            _lastCleanup = now;
        var apps = await db.AnalyticsApplications.AsNoTracking().ToDictionaryAsync(a => a.Name, ct).ConfigureAwait(false);
        var active = apps.Values.Where(a => a.Status is AnalyticsApplicationStatuses.Starting or AnalyticsApplicationStatuses.Running)
            .ToDictionary(a => LeasePrefix + a.Name, StringComparer.Ordinal);
        await SeedAsync(db, active.Keys, ct).ConfigureAwait(false);
        var leases = await db.Leases.AsNoTracking().Where(l => l.ApplicationName.StartsWith(LeasePrefix)).ToListAsync(ct).ConfigureAwait(false);

        foreach (var name in RunningApplications)
        {
            var run = _running[name];
            var lease = leases.FirstOrDefault(l => l.ApplicationName == LeasePrefix + name);
            var keep = apps.TryGetValue(name, out var a) && active.ContainsKey(LeasePrefix + name)
                && run.RunId == a.RunId && run.VersionId == a.VersionId && !run.Task.IsCompleted
                && lease?.LeaseOwner == Owner;
            if (!keep)
                await StopAsync(name).ConfigureAwait(false);
        }

        // No replica runs a stopping application once its lease is free or expired: it is READY.
        foreach (var a in apps.Values.Where(a => a.Status == AnalyticsApplicationStatuses.Stopping))
        {
            var lease = leases.FirstOrDefault(l => l.ApplicationName == LeasePrefix + a.Name);
            if (lease is null || lease.LeaseOwner is null || lease.LeaseExpiresAt <= now)
                await SettleAsync(db, a.Name, AnalyticsApplicationStatuses.Stopping, AnalyticsApplicationStatuses.Ready, ct).ConfigureAwait(false);
        }

        var views = leases.Where(l => active.ContainsKey(l.ApplicationName))
            .Select(l => new LeaseView(l.ApplicationName, l.StreamId, l.ShardIndex, l.LeaseOwner, l.LeaseCounter, l.LeaseExpiresAt)).ToList();
        var plan = LeaseBalancer.Plan(views, live, Owner, now, balance: true,
            maySteal: now - _lastSteal >= TimeSpan.FromMilliseconds(options.Value.StealIntervalMilliseconds));
        // Ours by the table but not running here (a run that failed): run it again; it is within our share.
        var restart = views.Where(l => l.Owner == Owner && l.IsHeldAt(now) && !_running.ContainsKey(l.Application[LeasePrefix.Length..]));
        foreach (var lease in restart.Concat(plan.Take))
            await TakeAsync(db, active[lease.Application], lease, victim: null, now, ct).ConfigureAwait(false);
        if (plan.Steal is { } steal)
        {
            _lastSteal = now;
            if (await TakeAsync(db, active[steal.Application], steal, plan.Victim, now, ct).ConfigureAwait(false))
                _logger.LogInformation("Took application {Application} from {Victim} for a fair share of {Target} over {Workers} replicas",
                    steal.Application, plan.Victim, plan.Target, plan.Workers);
        }
        // Lease rows of deleted applications go. An existing application keeps its row while stopped: its counter is
        // the epoch that fences the table output's commits, and must keep growing across stops and starts.
        var gone = leases.Where(l => !apps.ContainsKey(l.ApplicationName[LeasePrefix.Length..]) && (l.LeaseOwner is null || l.LeaseExpiresAt <= now))
            .Select(l => l.ApplicationName).ToList();
        if (gone.Count > 0)
            await db.Leases.Where(l => gone.Contains(l.ApplicationName) && (l.LeaseOwner == null || l.LeaseExpiresAt <= now)).ExecuteDeleteAsync(ct).ConfigureAwait(false);
    }

    private static async Task SeedAsync(MetadataDbContext db, IEnumerable<string> applications, CancellationToken ct)
    {
        var wanted = applications.ToList();
        if (wanted.Count == 0)
            return;
        var existing = await db.Leases.AsNoTracking().Where(l => wanted.Contains(l.ApplicationName)).Select(l => l.ApplicationName).ToListAsync(ct).ConfigureAwait(false);
        var missing = wanted.Except(existing).ToList();
        if (missing.Count == 0)
            return;
        foreach (var name in missing)
            db.Leases.Add(new LeaseEntity { ApplicationName = name, StreamId = 0, ShardIndex = 0 });
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

    /// <summary>Moves a transitional status on, only if nobody changed it meanwhile.</summary>
    private static Task<int> SettleAsync(MetadataDbContext db, string name, string from, string to, CancellationToken ct) =>
        db.AnalyticsApplications.Where(a => a.Name == name && a.Status == from)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, to), ct);

    private async Task<bool> TakeAsync(MetadataDbContext db, AnalyticsApplicationEntity a, LeaseView lease, string? victim, DateTimeOffset now, CancellationToken ct)
    {
        if (_running.ContainsKey(a.Name))
            return false;
        var (taken, _) = await LeaseTable.TryTakeAsync(db, lease, Owner, victim, LeaseDuration, now, ct).ConfigureAwait(false);
        if (!taken)
            return false;
        var epoch = await db.Leases.AsNoTracking().Where(l => l.ApplicationName == lease.Application && l.StreamId == 0 && l.ShardIndex == 0)
            .Select(l => l.LeaseCounter).FirstAsync(ct).ConfigureAwait(false);
        var keeper = new LeaseKeeper(dbFactory, lease.Application, 0, 0, Owner, LeaseDuration, time);
        // A stolen lease's former owner learns of the loss at its next renewal or scan; starting one renewal period
        // later keeps the two from running side by side (its commits are fenced by the epoch anyway).
        var handover = victim is null ? TimeSpan.Zero : LeaseDuration / 3;
        Start(a, keeper, epoch, handover);
        return true;
    }

    private void Start(AnalyticsApplicationEntity a, LeaseKeeper keeper, long epoch, TimeSpan handover)
    {
        var stop = new CancellationTokenSource();
        var run = new ApplicationRun(a, epoch, dbFactory, locator, objects, lambdas, options.Value, time, loggers.CreateLogger<ApplicationRun>());
        var task = Task.Run(async () =>
        {
            var failure = await keeper.RunWhileHeldAsync(stop, _logger, async ct =>
            {
                if (handover > TimeSpan.Zero)
                    await Task.Delay(handover, time, ct).ConfigureAwait(false);
                // RUNNING once the start positions are fixed: a record put after DescribeApplication says RUNNING is read.
                await run.RunAsync(async () =>
                {
                    await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
                    await SettleAsync(db, a.Name, AnalyticsApplicationStatuses.Starting, AnalyticsApplicationStatuses.Running, ct).ConfigureAwait(false);
                }, ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            if (failure is LeaseLostException)
                _logger.LogInformation("Application {Application} stopped here: {Reason}", a.Name, failure.Message);
            else if (failure is not null)
                _logger.LogWarning(failure, "Application {Application} failed; it is started again from its last checkpoint", a.Name);
        });
        lock (_running)
            _running[a.Name] = new Running(a.RunId, a.VersionId, stop, task);
        _logger.LogInformation("Application {Application} runs here (run {Run}, version {Version}, epoch {Epoch})", a.Name, a.RunId, a.VersionId, epoch);
    }

    private async Task StopAsync(string name)
    {
        Running? run;
        lock (_running)
        {
            if (!_running.Remove(name, out run))
                return;
        }
        await run.Stop.CancelAsync().ConfigureAwait(false);
        await run.Task.ConfigureAwait(false);
        run.Stop.Dispose();
    }
}
