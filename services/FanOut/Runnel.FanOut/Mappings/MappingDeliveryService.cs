using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;

namespace Runnel.FanOut.Mappings;

/// <summary>
/// Runs event source mappings. Every scan (and whenever this process changed a mapping) it settles transitional
/// states, adds lease rows for shards born from a resharding, and takes the free or expired leases of enabled
/// mappings whose parents are finished, starting a <see cref="ShardDelivery"/> for each. Leases are renewed every third
/// of their duration; a replica that dies stops renewing and another takes its shards over after the duration, from
/// the last checkpoint (at least once, never a gap). Deliveries of a disabled, changed or deleted mapping are stopped
/// and their leases given up.
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

    /// <summary>Unique per process: a restarted replica must not mistake its predecessor's leases for its own.</summary>
    public string Owner { get; } = $"{identity.NodeName}/{Guid.NewGuid():N}";

    private sealed record Running(CancellationTokenSource Stop, Task Task, long Version);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.DeliveryEnabled)
            return;
        var interval = TimeSpan.FromMilliseconds(_options.ScanIntervalMilliseconds);
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
        }
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        foreach (var (key, run) in _running.Where(r => r.Value.Task.IsCompleted).ToList())
            _running.Remove(key);

        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
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

        if (mappings.Count == 0)
            return;
        var streams = await db.Streams.AsNoTracking().ToDictionaryAsync(s => s.Id, ct).ConfigureAwait(false);
        foreach (var m in mappings.Where(m => m.State == MappingStates.Enabled))
        {
            if (!streams.TryGetValue(m.StreamId, out var stream) || stream.Status == StreamStatuses.Deleting)
            {
                await ReportAsync(m.Uuid, "PROBLEM: Stream not found").ConfigureAwait(false);
                continue;
            }
            await StartShardsAsync(db, m, stream, ct).ConfigureAwait(false);
        }
    }

    private async Task StartShardsAsync(MetadataDbContext db, EventSourceMappingEntity m, StreamEntity stream, CancellationToken ct)
    {
        var application = MappingLeases.Application(m.Uuid);
        if (await MappingLeases.SeedAsync(db, m, null, ct).ConfigureAwait(false) > 0)
        {
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
        var leases = await db.Leases.AsNoTracking().Where(l => l.ApplicationName == application).ToListAsync(ct).ConfigureAwait(false);
        var finished = leases.Where(l => l.Checkpoint == MappingLeases.ShardEnd).Select(l => l.ShardIndex).ToHashSet();
        var known = leases.Select(l => l.ShardIndex).ToHashSet();
        var now = time.GetUtcNow();
        foreach (var lease in leases.OrderBy(l => l.ShardIndex))
        {
            if (lease.Checkpoint == MappingLeases.ShardEnd || _running.ContainsKey((m.Uuid, lease.ShardIndex)))
                continue;
            // Per-key order across a resharding: a child starts only after its parents were delivered to their end. A
            // parent without a row has expired from the stream and has nothing left to deliver.
            var parents = (lease.ParentShardIndexes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => int.Parse(p, CultureInfo.InvariantCulture));
            if (parents.Any(p => known.Contains(p) && !finished.Contains(p)))
                continue;
            if (lease.LeaseOwner is not null && lease.LeaseOwner != Owner && lease.LeaseExpiresAt > now)
                continue;
            var duration = TimeSpan.FromSeconds(_options.LeaseSeconds);
            var taken = await db.Leases
                .Where(l => l.ApplicationName == application && l.StreamId == lease.StreamId && l.ShardIndex == lease.ShardIndex && l.LeaseCounter == lease.LeaseCounter)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(l => l.LeaseOwner, Owner)
                    .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1)
                    .SetProperty(l => l.LeaseExpiresAt, now + duration), ct).ConfigureAwait(false);
            if (taken == 0)
                continue;
            if (MappingLeases.NextOrdinal(lease.Checkpoint) is not { } start)
                continue;
            var keeper = new LeaseKeeper(dbFactory, application, lease.StreamId, lease.ShardIndex, Owner, duration, time);
            var source = new EventSource(m.EventSourceArn, ShardIds.Format(lease.ShardIndex), lease.ShardIndex, fanOutOptions.Value.Region, fanOutOptions.Value.AccountId);
            var context = new ShardDeliveryContext(m, stream.Name, TimeSpan.FromHours(stream.RetentionHours), source, start, keeper);
            var stop = new CancellationTokenSource();
            _logger.LogInformation("Mapping {Mapping} took {Shard} of {Stream} from {Checkpoint}", m.Uuid, source.ShardId, stream.Name, lease.Checkpoint ?? "its start");
            _running[(m.Uuid, lease.ShardIndex)] = new Running(stop, RunAsync(context, keeper, stop), m.Version);
        }
    }

    private async Task RunAsync(ShardDeliveryContext context, LeaseKeeper keeper, CancellationTokenSource stop)
    {
        await Task.Yield();
        var ct = stop.Token;
        var m = context.Mapping;
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewal = RenewAsync(keeper, stop, renewing.Token);
        var delivery = new ShardDelivery(context, dbFactory, locator, clients.CreateClient(HttpClientName), destination, metrics, _options,
            result => _ = ReportAsync(m.Uuid, result), time, loggers.CreateLogger<ShardDelivery>());
        try
        {
            await delivery.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (LeaseLostException e)
        {
            _logger.LogInformation("Mapping {Mapping} stopped on {Shard}: {Reason}", m.Uuid, context.Source.ShardId, e.Message);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Mapping {Mapping} failed on {Shard}; it is retried on the next scan", m.Uuid, context.Source.ShardId);
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
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await keeper.ReleaseAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogDebug(e, "Releasing the lease of {Mapping} on {Shard} failed; it expires instead", m.Uuid, context.Source.ShardId);
            }
            signal.Pulse();
        }
    }

    private async Task RenewAsync(LeaseKeeper keeper, CancellationTokenSource stop, CancellationToken ct)
    {
        var every = TimeSpan.FromSeconds(_options.LeaseSeconds / 3.0);
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(every, time, ct).ConfigureAwait(false);
            try
            {
                await keeper.RenewAsync(ct).ConfigureAwait(false);
            }
            catch (LeaseLostException)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not OperationCanceledException)
            {
                // The metadata store hiccuped: try again; the lease lasts three renewal periods.
                _logger.LogDebug(e, "Lease renewal failed");
            }
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
