using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Firehose.Api;
using Runnel.Firehose.Destinations;
using Runnel.ServiceDefaults.Objects;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// Runs delivery. Every scan (and whenever this process changed a delivery stream) it adds lease rows for source
/// shards born of a resharding, stops deliveries of deleted or updated delivery streams, and takes every free or
/// expired lease whose parent shards are delivered to their end, starting a <see cref="ShardDelivery"/> for each.
/// Leases are renewed every third of their duration; when a replica dies another takes its shards after the duration
/// and continues from the checkpoint.
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
    private readonly FirehoseOptions _options = options.Value;
    private readonly ILogger _logger = loggers.CreateLogger<DeliveryService>();
    private readonly Dictionary<(long Id, int Shard), Running> _running = [];

    /// <summary>Unique per process: a restarted replica must not mistake its predecessor's leases for its own.</summary>
    public string Owner { get; } = $"{identity.NodeName}/{Guid.NewGuid():N}";

    private sealed record Running(CancellationTokenSource Stop, Task Task, long Version);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.DeliveryEnabled)
            return;
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
                    _logger.LogWarning(e, "Delivery scan failed");
                }
                try
                {
                    await signal.WaitAsync(TimeSpan.FromMilliseconds(_options.ScanIntervalMilliseconds), stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                }
            }
        }
        finally
        {
            foreach (var key in _running.Keys.ToList())
                await StopAsync(key).ConfigureAwait(false);
        }
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        foreach (var (key, _) in _running.Where(r => r.Value.Task.IsCompleted).ToList())
            _running.Remove(key);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var streams = await db.DeliveryStreams.AsNoTracking().ToListAsync(ct).ConfigureAwait(false);
        var byId = streams.ToDictionary(d => d.Id);
        foreach (var key in _running.Keys.ToList())
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
        var now = time.GetUtcNow();
        foreach (var group in rows.Where(l => active.ContainsKey(l.ApplicationName)).GroupBy(l => l.ApplicationName))
        {
            var d = active[group.Key];
            var finished = group.Where(l => l.Checkpoint == DeliveryCheckpoint.ShardEnd).Select(l => l.ShardIndex).ToHashSet();
            var known = group.Select(l => l.ShardIndex).ToHashSet();
            foreach (var lease in group)
            {
                var key = (d.Id, lease.ShardIndex);
                if (_running.ContainsKey(key))
                {
                    if (lease.LeaseOwner != Owner)
                        await StopAsync(key).ConfigureAwait(false);
                    continue;
                }
                if (lease.Checkpoint == DeliveryCheckpoint.ShardEnd || (lease.LeaseOwner is not null && lease.LeaseExpiresAt > now && lease.LeaseOwner != Owner))
                    continue;
                // Order across a resharding: a child is delivered only after its parents were delivered to their end.
                var parents = (lease.ParentShardIndexes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture));
                if (parents.Any(p => known.Contains(p) && !finished.Contains(p)))
                    continue;
                await TakeAsync(d, lease, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task TakeAsync(DeliveryStreamEntity d, LeaseEntity row, CancellationToken ct)
    {
        var lease = new ShardLease(dbFactory, row.ApplicationName, row.StreamId, row.ShardIndex, Owner, TimeSpan.FromSeconds(_options.LeaseSeconds), time);
        if (!await lease.TakeAsync(row.LeaseCounter, ct).ConfigureAwait(false))
            return;
        var checkpoint = await lease.ReadCheckpointAsync(ct).ConfigureAwait(false);
        var http = HttpEndpointDestination.FromStored(d.DestinationConfig);
        var context = new ShardDeliveryContext(d, http?.Backup ?? S3Destination.FromJson(d.DestinationConfig), http, lease, checkpoint);
        var stop = new CancellationTokenSource();
        _logger.LogInformation("Firehose {Name} took shard {Shard} from {Checkpoint}", d.Name, row.ShardIndex, checkpoint ?? "its start");
        _running[(d.Id, row.ShardIndex)] = new Running(stop, RunAsync(context, stop), d.VersionId);
    }

    private async Task RunAsync(ShardDeliveryContext context, CancellationTokenSource stop)
    {
        await Task.Yield();
        var ct = stop.Token;
        var lease = context.Lease;
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewal = RenewAsync(lease, stop, renewing.Token);
        var delivery = new ShardDelivery(context, dbFactory, locator, objects, sender, transformer, metrics, _options, time, loggers.CreateLogger<ShardDelivery>());
        try
        {
            await delivery.RunAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (LeaseLostException e)
        {
            _logger.LogInformation("Firehose {Name} stopped on shard {Shard}: {Reason}", context.DeliveryStream.Name, lease.ShardIndex, e.Message);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Firehose {Name} failed on shard {Shard}; it is retried on the next scan", context.DeliveryStream.Name, lease.ShardIndex);
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
                await lease.ReleaseAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogDebug(e, "Releasing the lease of shard {Shard} failed; it expires instead", lease.ShardIndex);
            }
            signal.Pulse();
        }
    }

    private async Task RenewAsync(ShardLease lease, CancellationTokenSource stop, CancellationToken ct)
    {
        var duration = TimeSpan.FromSeconds(_options.LeaseSeconds);
        var every = duration / 3;
        var renewed = time.GetUtcNow();
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(every, time, ct).ConfigureAwait(false);
            try
            {
                var attempt = time.GetUtcNow();
                await lease.RenewAsync(ct).ConfigureAwait(false);
                renewed = attempt;
            }
            catch (LeaseLostException)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not OperationCanceledException)
            {
                // A replica cut off from the metadata store stops by its own clock before its lease can run out.
                _logger.LogDebug(e, "Lease renewal failed");
                if (time.GetUtcNow() + every - renewed >= duration)
                {
                    await stop.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
    }

    private async Task StopAsync((long Id, int Shard) key)
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
            _logger.LogDebug(e, "Delivery of {Id} on shard {Shard} ended with an error", key.Id, key.Shard);
        }
        run.Stop.Dispose();
    }
}
