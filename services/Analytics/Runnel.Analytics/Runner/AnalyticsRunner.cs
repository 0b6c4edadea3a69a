using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Analytics.Runner;

/// <summary>
/// Runs the applications that are STARTING or RUNNING in this process. Every scan it starts a run for each such
/// application it does not run (or runs at an older version or start), marks STARTING ones RUNNING, stops runs of
/// applications being stopped or deleted (a stopped run commits its checkpoint first) and marks STOPPING ones
/// READY. A run that failed is started again at the next scan, from its last checkpoint.
/// </summary>
public sealed class AnalyticsRunner(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IOptions<AnalyticsOptions> options,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<AnalyticsRunner>();
    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);

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
        }
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var apps = await db.AnalyticsApplications.AsNoTracking().ToDictionaryAsync(a => a.Name, ct).ConfigureAwait(false);
        foreach (var name in RunningApplications)
        {
            var keep = apps.TryGetValue(name, out var a)
                && a.Status is AnalyticsApplicationStatuses.Running or AnalyticsApplicationStatuses.Starting
                && _running[name].RunId == a.RunId && _running[name].VersionId == a.VersionId
                && !_running[name].Task.IsCompleted;
            if (!keep)
                await StopAsync(name).ConfigureAwait(false);
        }
        foreach (var a in apps.Values)
        {
            switch (a.Status)
            {
                case AnalyticsApplicationStatuses.Starting or AnalyticsApplicationStatuses.Running:
                    if (!_running.ContainsKey(a.Name))
                        Start(a);
                    break;
                case AnalyticsApplicationStatuses.Stopping:
                    await SettleAsync(db, a.Name, AnalyticsApplicationStatuses.Stopping, AnalyticsApplicationStatuses.Ready, ct).ConfigureAwait(false);
                    break;
            }
        }
    }

    /// <summary>Moves a transitional status on, only if nobody changed it meanwhile.</summary>
    private static Task<int> SettleAsync(MetadataDbContext db, string name, string from, string to, CancellationToken ct) =>
        db.AnalyticsApplications.Where(a => a.Name == name && a.Status == from)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Status, to), ct);

    private void Start(AnalyticsApplicationEntity a)
    {
        var stop = new CancellationTokenSource();
        var run = new ApplicationRun(a, dbFactory, locator, options.Value, time, loggers.CreateLogger<ApplicationRun>());
        var task = Task.Run(async () =>
        {
            try
            {
                // RUNNING once the start positions are fixed: a record put after DescribeApplication says RUNNING is read.
                await run.RunAsync(async () =>
                {
                    await using var db = await dbFactory.CreateDbContextAsync(stop.Token).ConfigureAwait(false);
                    await SettleAsync(db, a.Name, AnalyticsApplicationStatuses.Starting, AnalyticsApplicationStatuses.Running, stop.Token).ConfigureAwait(false);
                }, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Application {Application} failed; it is started again from its last checkpoint", a.Name);
            }
        });
        lock (_running)
            _running[a.Name] = new Running(a.RunId, a.VersionId, stop, task);
        _logger.LogInformation("Application {Application} started (run {Run}, version {Version})", a.Name, a.RunId, a.VersionId);
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
