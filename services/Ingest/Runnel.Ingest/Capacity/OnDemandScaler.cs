using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Streams;
using Runnel.Ingest.Operations;
using Runnel.Ingest.Options;
using Runnel.Ingest.Throttling;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Capacity;

/// <summary>
/// Scales ON_DEMAND streams. One replica at a time holds the <c>leases</c> row <see cref="LeaseName"/> (renewed
/// every evaluation, taken over once expired); the holder reads each on-demand stream's traffic from the shared
/// store every <see cref="CapacityOptions.EvaluationInterval"/>, applies <see cref="ScalingPolicy"/>, and starts the
/// resharding workflow for what it decides. Each decision (and each one the stream refused, e.g. UPDATING or the
/// account's shard limit) writes an <c>audit_entries</c> row with the loads behind it and a metric.
/// Provisioned streams, and streams whose throttling is switched off, are never touched.
/// A stream's cold clock (when it last became cold) is a <c>leases</c> row named <see cref="ColdClockName"/>, so a
/// replica that takes the decision over continues the quiet period instead of starting it again.
/// </summary>
internal sealed partial class OnDemandScaler(
    IDbContextFactory<MetadataDbContext> dbFactory,
    ITrafficStore store,
    KinesisResharding resharding,
    IThroughputLimiter limiter,
    IOptions<CapacityOptions> options,
    IOptions<IngestOptions> ingest,
    IOptions<RunnelOptions> runnel,
    CapacityMetrics metrics,
    TimeProvider time,
    ILogger<OnDemandScaler> logger) : BackgroundService
{
    public const string LeaseName = "runnel:on-demand-scaler";
    public const string Principal = "runnel:on-demand-scaler";
    public const string ColdClockName = "runnel:on-demand-cold";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    private readonly Dictionary<long, DateTimeOffset> _lastDecision = [];
    private readonly Dictionary<long, DateTimeOffset> _coldSince = [];

    /// <summary>Since when each cold on-demand stream has been cold, as of the last evaluation.</summary>
    internal IReadOnlyDictionary<long, DateTimeOffset> ColdSince => _coldSince;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        if (!o.AutoScaling)
            return;
        using var timer = new PeriodicTimer(o.EvaluationInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                if (await TryHoldLeaseAsync(stoppingToken))
                    await EvaluateAsync(stoppingToken);
                else
                {
                    // Another replica decides (and reports the shard counts); what this one remembered would be
                    // stale when it takes over.
                    _lastDecision.Clear();
                    _coldSince.Clear();
                    metrics.OpenShards(new Dictionary<string, int>());
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogEvaluationFailed(logger, e);
            }
        }
    }

    /// <summary>Takes or renews the lease row; false while another live replica holds it.</summary>
    internal async Task<bool> TryHoldLeaseAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var now = time.GetUtcNow();
        var until = now + options.Value.LeaseDuration;
        var renewed = await db.Leases
            .Where(l => l.ApplicationName == LeaseName && l.StreamId == 0 && l.ShardIndex == 0
                && (l.LeaseOwner == _owner || l.LeaseExpiresAt == null || l.LeaseExpiresAt < now))
            .ExecuteUpdateAsync(s => s
                .SetProperty(l => l.LeaseOwner, _owner)
                .SetProperty(l => l.LeaseExpiresAt, until)
                .SetProperty(l => l.LeaseCounter, l => l.LeaseCounter + 1), ct);
        if (renewed == 1)
            return true;
        if (await db.Leases.AnyAsync(l => l.ApplicationName == LeaseName && l.StreamId == 0 && l.ShardIndex == 0, ct))
            return false;
        db.Leases.Add(new LeaseEntity { ApplicationName = LeaseName, StreamId = 0, ShardIndex = 0, LeaseOwner = _owner, LeaseCounter = 1, LeaseExpiresAt = until });
        try
        {
            await db.SaveChangesAsync(ct);
            return true;
        }
        catch (DbUpdateException)
        {
            // Another replica inserted the row first.
            return false;
        }
    }

    internal async Task EvaluateAsync(CancellationToken ct)
    {
        List<(StreamEntity Stream, List<ShardEntity> Open)> streams;
        Dictionary<long, DateTimeOffset> reshardedAt;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var onDemand = await db.Streams.AsNoTracking().Where(s => s.Mode == StreamModes.OnDemand).ToListAsync(ct);
            var ids = onDemand.Select(s => s.Id).ToList();
            var shards = await db.Shards.AsNoTracking().Where(s => ids.Contains(s.StreamId) && s.EndingSequenceNumber == null).ToListAsync(ct);
            streams = [.. onDemand.Select(s => (s, shards.Where(x => x.StreamId == s.Id).OrderBy(x => x.HashKeyStart).ToList()))];
            // Reshardings (of any kind, by any replica) finished within the cooldown: their children's rates are still building up.
            var since = time.GetUtcNow() - options.Value.Cooldown;
            var recent = await db.ReshardOperations.AsNoTracking()
                .Where(o => ids.Contains(o.StreamId) && o.CompletedAt != null && o.CompletedAt > since)
                .Select(o => new { o.StreamId, o.CompletedAt }).ToListAsync(ct);
            reshardedAt = recent.GroupBy(o => o.StreamId).ToDictionary(g => g.Key, g => g.Max(o => o.CompletedAt!.Value));
        }
        metrics.OpenShards(streams.ToDictionary(s => s.Stream.Name, s => s.Open.Count, StringComparer.Ordinal));
        var live = streams.Select(s => s.Stream.Id).ToHashSet();
        foreach (var id in _lastDecision.Keys.Where(id => !live.Contains(id)).ToList())
            _lastDecision.Remove(id);
        await LoadColdClocksAsync(live, ct);

        foreach (var (stream, open) in streams)
        {
            if (stream.Status != StreamStatuses.Active || open.Count == 0)
                continue;
            await EvaluateStreamAsync(stream, open, reshardedAt.GetValueOrDefault(stream.Id), ct);
        }
    }

    private async Task EvaluateStreamAsync(StreamEntity stream, List<ShardEntity> open, DateTimeOffset reshardedAt, CancellationToken ct)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        if ((_lastDecision.TryGetValue(stream.Id, out var last) && now - last < o.Cooldown) || now - reshardedAt < o.Cooldown)
            return;
        // A stream without write limits (throttling off for it) can take any load on its shards: nothing to scale.
        if (limiter.LimitsFor(stream.Name) is not { } limits || (limits.WriteBytesPerSecond <= 0 && limits.WriteRecordsPerSecond <= 0))
        {
            await ClearColdAsync(stream.Id, ct);
            return;
        }
        var loads = await LoadsAsync(stream.Id, limits, open, ct);
        var candidates = ScalingPolicy.MergeCandidates(loads, o);
        if (candidates.Count == 0 || loads.Any(l => l.Average >= o.ScaleUpThreshold))
            await ClearColdAsync(stream.Id, ct);
        else
            await MarkColdAsync(stream.Id, now, ct);
        var quiet = _coldSince.TryGetValue(stream.Id, out var since) && now - since >= o.QuietPeriod;
        var decision = ScalingPolicy.Decide(loads, o, ingest.Value.OnDemandShardCount, quiet);
        if (decision is null)
            return;

        var refusal = await resharding.StartAutomaticReshardAsync(stream.Id, "OnDemand" + decision.Action,
            (shards, firstIndex) => ScalingPolicy.PlanFor(decision, shards, firstIndex), ct);
        _lastDecision[stream.Id] = now;
        await ClearColdAsync(stream.Id, ct);
        var outcome = refusal is null ? "Started" : "Refused";
        var after = open.Count + decision.Splits.Values.Sum(p => p - 1) - decision.Merges.Count;
        await AuditAsync(stream, decision, outcome, refusal, open.Count, after, loads, ct);
        metrics.Decision(stream.Name, refusal is null ? decision.Action : "Refused");
        if (refusal is null)
            LogDecision(logger, stream.Name, decision.Action, open.Count, after, decision.Reason);
        else
            LogRefused(logger, stream.Name, decision.Action, refusal);
    }

    /// <summary>Reads every cold clock (another replica may have decided last) and drops those of streams no longer on demand.</summary>
    private async Task LoadColdClocksAsync(HashSet<long> live, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.Leases.AsNoTracking().Where(l => l.ApplicationName == ColdClockName)
            .Select(l => new { l.StreamId, l.Checkpoint }).ToListAsync(ct);
        _coldSince.Clear();
        var gone = new List<long>();
        foreach (var row in rows)
        {
            if (!live.Contains(row.StreamId))
                gone.Add(row.StreamId);
            else if (long.TryParse(row.Checkpoint, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
                _coldSince[row.StreamId] = DateTimeOffset.FromUnixTimeMilliseconds(ms);
        }
        if (gone.Count > 0)
            await db.Leases.Where(l => l.ApplicationName == ColdClockName && gone.Contains(l.StreamId)).ExecuteDeleteAsync(ct);
    }

    private async Task MarkColdAsync(long streamId, DateTimeOffset now, CancellationToken ct)
    {
        if (!_coldSince.TryAdd(streamId, now))
            return;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var value = now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        // A row left by a replica that lost the lease mid-write is overwritten: this holder has just seen the stream turn cold.
        if (await db.Leases.Where(l => l.ApplicationName == ColdClockName && l.StreamId == streamId && l.ShardIndex == 0)
                .ExecuteUpdateAsync(u => u.SetProperty(l => l.Checkpoint, value), ct) == 0)
        {
            db.Leases.Add(new LeaseEntity { ApplicationName = ColdClockName, StreamId = streamId, ShardIndex = 0, Checkpoint = value });
            await db.SaveChangesAsync(ct);
        }
    }

    private async Task ClearColdAsync(long streamId, CancellationToken ct)
    {
        if (!_coldSince.Remove(streamId))
            return;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await db.Leases.Where(l => l.ApplicationName == ColdClockName && l.StreamId == streamId).ExecuteDeleteAsync(ct);
    }

    /// <summary>Loads of the open shards over the window; a shard younger than the window is measured since it opened.</summary>
    internal async Task<List<ShardLoad>> LoadsAsync(long streamId, EffectiveShardLimits limits, List<ShardEntity> open, CancellationToken ct)
    {
        var o = options.Value;
        var seconds = (int)Math.Ceiling(o.Window.TotalSeconds);
        // Replicas publish their counts every FlushInterval, so a second is complete in the store only one flush
        // after it ended; the second flush interval covers a flush that is slow or just missed. Reading a second
        // too early under-counts it, and a split sized on that peak asks for too few children.
        var now = (time.GetUtcNow() - 2 * o.FlushInterval).ToUnixTimeSeconds();
        var from = now - seconds;
        var traffic = await store.ReadAsync(streamId, from, seconds, ct);
        var loads = new List<ShardLoad>(open.Count);
        foreach (var shard in open)
        {
            var first = (int)Math.Clamp(shard.CreatedAt.ToUnixTimeSeconds() + 1 - from, 0, seconds);
            loads.Add(ScalingPolicy.Measure(shard.ShardIndex, traffic.Of(shard.ShardIndex), first, limits));
        }
        return loads;
    }

    private async Task AuditAsync(StreamEntity stream, ScalingDecision decision, string outcome, string? refusal, int before, int after,
        List<ShardLoad> loads, CancellationToken ct)
    {
        var details = JsonSerializer.Serialize(new
        {
            action = decision.Action,
            reason = decision.Reason,
            refusal,
            openShardsBefore = before,
            openShardsAfter = refusal is null ? after : before,
            splits = decision.Splits.Select(kv => new { shardId = ShardIds.Format(kv.Key), into = kv.Value }),
            merges = decision.Merges.Select(m => new { shardId = ShardIds.Format(m.Shard), adjacentShardId = ShardIds.Format(m.Adjacent) }),
            loads = loads.Select(l => new
            {
                shardId = ShardIds.Format(l.ShardIndex),
                averageUse = Math.Round(l.Average, 3),
                peakUse = Math.Round(l.Peak, 3),
                bytesPerSecond = Math.Round(l.BytesPerSecond),
                recordsPerSecond = Math.Round(l.RecordsPerSecond, 1),
                throttledRecords = l.ThrottledRecords,
                seconds = l.Seconds,
            }),
        }, Json);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.AuditEntries.Add(new AuditEntryEntity
        {
            At = time.GetUtcNow(),
            Principal = Principal,
            Operation = "OnDemand" + decision.Action,
            Resource = Arns.Stream(runnel.Value.Region, runnel.Value.AccountId, stream.Name),
            Outcome = outcome,
            Details = details,
        });
        await db.SaveChangesAsync(ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "On-demand stream {Stream}: {Action} from {Before} to {After} open shards ({Reason})")]
    private static partial void LogDecision(ILogger logger, string stream, string action, int before, int after, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "On-demand stream {Stream}: {Action} not started: {Refusal}")]
    private static partial void LogRefused(ILogger logger, string stream, string action, string refusal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "On-demand scaling evaluation failed; retrying at the next interval.")]
    private static partial void LogEvaluationFailed(ILogger logger, Exception exception);
}
