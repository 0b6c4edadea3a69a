using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Hashing;
using Runnel.Core.Streams;
using Runnel.Ingest.Options;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Resharding;
using Runnel.Ingest.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Operations;

/// <summary>
/// SplitShard, MergeShards, UpdateShardCount and UpdateStreamMode. A resharding request is checked, turned
/// into a plan, and recorded together with the stream's move to UPDATING in one transaction (the stream's
/// version is a concurrency token, so of two racing requests one gets ResourceInUseException); the
/// workflow (<see cref="ReshardExecutor"/>) carries it out and returns the stream to ACTIVE.
/// </summary>
internal sealed class KinesisResharding(
    RouteCache routes,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IOptions<IngestOptions> ingest,
    TimeProvider time,
    MassTransit.IBus bus,
    KinesisStreams streams,
    ControlPlaneAdmission admission,
    ILogger<KinesisResharding> logger) : IKinesisOperations
{
    public bool Handles(string operation) => operation is "SplitShard" or "MergeShards" or "UpdateShardCount" or "UpdateStreamMode";

    public async Task HandleAsync(string operation, ApiCall call)
    {
        await admission.AdmitAsync(operation, call.Aborted);
        await (operation switch
        {
            "SplitShard" => SplitShardAsync(call),
            "MergeShards" => MergeShardsAsync(call),
            "UpdateShardCount" => UpdateShardCountAsync(call),
            "UpdateStreamMode" => UpdateStreamModeAsync(call),
            _ => throw KinesisOperations.Unknown(operation),
        });
    }

    private string Account => streams.Account;

    private const int MaxUniformShardCount = 10_000;
    private const int MaxModeSwitchesPerDay = 2;
    private static readonly string[] ScalingTypes = ["UNIFORM_SCALING"];

    private sealed class ReshardRequest
    {
        public string? StreamName, StreamArn, ShardToSplit, NewStartingHashKey, ShardToMerge, AdjacentShardToMerge, ScalingType, StreamMode;
        public long? TargetShardCount;
    }

    private static ReshardRequest ParseReshard(ApiCall call)
    {
        var q = new ReshardRequest();
        var r = call.Reader();
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var m))
        {
            if (m.SequenceEqual("StreamName"u8)) q.StreamName = r.ReadString();
            else if (m.SequenceEqual("StreamARN"u8)) q.StreamArn = r.ReadString();
            else if (m.SequenceEqual("ShardToSplit"u8)) q.ShardToSplit = r.ReadString();
            else if (m.SequenceEqual("NewStartingHashKey"u8)) q.NewStartingHashKey = r.ReadString();
            else if (m.SequenceEqual("ShardToMerge"u8)) q.ShardToMerge = r.ReadString();
            else if (m.SequenceEqual("AdjacentShardToMerge"u8)) q.AdjacentShardToMerge = r.ReadString();
            else if (m.SequenceEqual("ScalingType"u8)) q.ScalingType = r.ReadString();
            else if (m.SequenceEqual("TargetShardCount"u8)) q.TargetShardCount = r.ReadInteger();
            else if (m.SequenceEqual("StreamModeDetails"u8))
            {
                if (r.ReadStartObject())
                    while (r.TryReadPropertyName(out var f))
                        if (f.SequenceEqual("StreamMode"u8)) q.StreamMode = r.ReadString();
                        else r.Skip();
            }
            else r.Skip();
        }
        r.ReadRequestEnd();
        return q;
    }

    private async Task<(StreamEntity Stream, List<ShardEntity> Open)> ReshardableAsync(MetadataDbContext db, string name, CancellationToken ct)
    {
        var stream = await streams.FindStreamAsync(db, name, ct, tracked: true);
        if (stream.Status != StreamStatuses.Active)
            throw streams.NotActive(stream);
        var open = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id && s.EndingSequenceNumber == null).ToListAsync(ct);
        open.Sort((a, b) => a.HashKeyStart.CompareTo(b.HashKeyStart));
        return (stream, open);
    }

    /// <summary>The managed service reshards ON_DEMAND streams itself; these operations are for provisioned streams only.</summary>
    private void RefuseOnDemand(StreamEntity stream, string operation)
    {
        if (stream.Mode == Metadata.Entities.StreamModes.OnDemand)
            throw KinesisException.InvalidArgument(
                $"{operation} is only supported for streams in PROVISIONED capacity mode; stream {stream.Name} under account {Account} is in ON_DEMAND mode.");
    }

    private ShardEntity OpenShardNamed(StreamEntity stream, List<ShardEntity> open, string shardId)
    {
        if (!ShardIds.TryParse(shardId, out var index))
            throw KinesisException.ResourceNotFound($"Could not find shard {shardId} in stream {stream.Name} under account {Account}.");
        return open.FirstOrDefault(s => s.ShardIndex == index)
            ?? throw (index < stream.NextShardIndex
                ? KinesisException.InvalidArgument(
                    $"Shard {ShardIds.Format(index)} in stream {stream.Name} under account {Account} has already been merged or split, and thus is not eligible for merging or splitting.")
                : KinesisException.ResourceNotFound($"Could not find shard {ShardIds.Format(index)} in stream {stream.Name} under account {Account}."));
    }

    /// <summary>Moves the stream to UPDATING and records the operation, in one transaction, then starts the workflow.</summary>
    private async Task StartReshardAsync(MetadataDbContext db, StreamEntity stream, string kind, ReshardPlan plan, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var op = new ReshardOperationEntity
        {
            Id = Guid.NewGuid(),
            StreamId = stream.Id,
            Kind = kind,
            Plan = plan.Serialize(),
            Round = 0,
            Step = ReshardSteps.Place,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        stream.Status = StreamStatuses.Updating;
        stream.NextShardIndex += plan.NewShardCount;
        stream.Version++;
        db.ReshardOperations.Add(op);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw KinesisException.ResourceInUse($"Stream {stream.Name} under account {Account} not ACTIVE, instead in state {StreamStatuses.Updating}");
        }
        routes.Invalidate(stream.Name);
        logger.LogInformation("Resharding {Stream} ({Kind}): operation {Operation}, {Rounds} round(s), {Shards} new shard(s)",
            stream.Name, kind, op.Id, plan.Rounds.Count, plan.NewShardCount);
        // The row is the source of truth: if this publish is lost, the recovery sweep publishes again.
        await bus.Publish(new AdvanceReshard(op.Id), CancellationToken.None);
    }

    /// <summary>
    /// Starts a resharding the on-demand scaler decided: the stream must still be ACTIVE and ON_DEMAND, and the
    /// plan is made from the open shards read in the same transaction that moves the stream to UPDATING (so a
    /// concurrent change makes this fail rather than plan on stale shards). Returns null once started, else why not.
    /// </summary>
    internal async Task<string?> StartAutomaticReshardAsync(long streamId, string kind, Func<IReadOnlyList<OpenShard>, int, ReshardPlan?> planFor, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        try
        {
            var name = await db.Streams.Where(s => s.Id == streamId).Select(s => s.Name).FirstOrDefaultAsync(ct);
            if (name is null)
                return "the stream no longer exists";
            var (stream, open) = await ReshardableAsync(db, name, ct);
            if (stream.Mode != Metadata.Entities.StreamModes.OnDemand)
                return "the stream is no longer ON_DEMAND";
            var plan = planFor([.. open.Select(s => new OpenShard(s.ShardIndex, new HashKeyRange(s.HashKeyStart, s.HashKeyEnd)))], stream.NextShardIndex);
            if (plan is null || plan.Rounds.Count == 0)
                return "the open shards changed since the decision";
            var added = ReshardPlanner.OpenCountAfter(plan, open.Count) - open.Count;
            await streams.CheckShardLimitAsync(db, added, ct);
            await StartReshardAsync(db, stream, kind, plan, ct);
            return null;
        }
        catch (KinesisException e)
        {
            return e.Message;
        }
    }

    private async Task SplitShardAsync(ApiCall call)
    {
        var q = ParseReshard(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.NotNull("shardToSplit", q.ShardToSplit);
        v.ShardId(q.ShardToSplit, "shardToSplit");
        v.NotNull("newStartingHashKey", q.NewStartingHashKey);
        v.Pattern("newStartingHashKey", q.NewStartingHashKey, Violations.HashKeyPattern, Violations.IsHashKeyText);
        v.ThrowIfAny();
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var (stream, open) = await ReshardableAsync(db, name, ct);
        RefuseOnDemand(stream, "SplitShard");
        var parent = OpenShardNamed(stream, open, q.ShardToSplit!);
        // Both children must be non-empty: the new start lies above the parent's start and within its range.
        if (!HashKeys.TryParse(q.NewStartingHashKey, out var key) || key <= parent.HashKeyStart || key > parent.HashKeyEnd)
            throw KinesisException.InvalidArgument(
                $"NewStartingHashKey {q.NewStartingHashKey} used in SplitShard() on shard {ShardIds.Format(parent.ShardIndex)} in stream {name} under account {Account} is not both greater than one plus the shard's StartingHashKey {HashKeys.Format(parent.HashKeyStart)} and less than the shard's EndingHashKey {HashKeys.Format(parent.HashKeyEnd)}.");
        await streams.CheckShardLimitAsync(db, 1, ct);
        var plan = ReshardPlanner.Split(new OpenShard(parent.ShardIndex, new HashKeyRange(parent.HashKeyStart, parent.HashKeyEnd)), key, stream.NextShardIndex);
        await StartReshardAsync(db, stream, "SplitShard", plan, ct);
        await call.RespondEmptyAsync();
    }

    private async Task MergeShardsAsync(ApiCall call)
    {
        var q = ParseReshard(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.NotNull("shardToMerge", q.ShardToMerge);
        v.ShardId(q.ShardToMerge, "shardToMerge");
        v.NotNull("adjacentShardToMerge", q.AdjacentShardToMerge);
        v.ShardId(q.AdjacentShardToMerge, "adjacentShardToMerge");
        v.ThrowIfAny();
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var (stream, open) = await ReshardableAsync(db, name, ct);
        RefuseOnDemand(stream, "MergeShards");
        var shard = OpenShardNamed(stream, open, q.ShardToMerge!);
        var adjacent = OpenShardNamed(stream, open, q.AdjacentShardToMerge!);
        var touching = shard.ShardIndex != adjacent.ShardIndex
            && ((shard.HashKeyEnd != UInt128.MaxValue && shard.HashKeyEnd + 1 == adjacent.HashKeyStart)
                || (adjacent.HashKeyEnd != UInt128.MaxValue && adjacent.HashKeyEnd + 1 == shard.HashKeyStart));
        if (!touching)
            throw KinesisException.InvalidArgument(
                $"Shards {ShardIds.Format(shard.ShardIndex)} and {ShardIds.Format(adjacent.ShardIndex)} in stream {name} under account {Account} are not an adjacent pair of shards eligible for merging");
        var plan = ReshardPlanner.Merge(
            new OpenShard(shard.ShardIndex, new HashKeyRange(shard.HashKeyStart, shard.HashKeyEnd)),
            new OpenShard(adjacent.ShardIndex, new HashKeyRange(adjacent.HashKeyStart, adjacent.HashKeyEnd)),
            stream.NextShardIndex);
        await StartReshardAsync(db, stream, "MergeShards", plan, ct);
        await call.RespondEmptyAsync();
    }

    private async Task UpdateShardCountAsync(ApiCall call)
    {
        var q = ParseReshard(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.NotNull("targetShardCount", q.TargetShardCount);
        v.Range("targetShardCount", q.TargetShardCount, 1, KinesisStreams.MaxShardsPerStream);
        v.NotNull("scalingType", q.ScalingType);
        v.Enum("scalingType", q.ScalingType, ScalingTypes);
        v.ThrowIfAny();
        var target = (int)q.TargetShardCount!.Value;
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await admission.AdmitPerStreamAsync("UpdateShardCount", name, ct);
        var (stream, open) = await ReshardableAsync(db, name, ct);
        RefuseOnDemand(stream, "UpdateShardCount");
        var current = open.Count;
        // The managed service allows ten scalings per stream in any rolling 24 hours; on-demand scaling does not count.
        var dayAgo = time.GetUtcNow() - TimeSpan.FromHours(24);
        var recent = await db.ReshardOperations.CountAsync(o => o.StreamId == stream.Id && o.Kind == "UpdateShardCount" && o.CreatedAt > dayAgo, ct);
        if (recent >= ingest.Value.UpdateShardCountPerDay)
            throw KinesisException.LimitExceeded(
                $"UpdateShardCount cannot be called more than {ingest.Value.UpdateShardCountPerDay} times in a rolling 24 hour period for stream {stream.Name} under account {Account}. Calls in the last 24 hours: {recent}.");
        // The managed service's bounds for one call: at most double, at least half, at most 10,000 shards.
        if (target > current * 2)
            throw KinesisException.LimitExceeded(
                $"UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: {current} Target shard count: {target}");
        if (target * 2 < current)
            throw KinesisException.LimitExceeded(
                $"UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: {current} Target shard count: {target}");
        if (target > MaxUniformShardCount)
            throw KinesisException.LimitExceeded(
                $"UpdateShardCount cannot scale up to more than {MaxUniformShardCount} shards. Target shard count: {target}");
        if (current > MaxUniformShardCount && target >= MaxUniformShardCount)
            throw KinesisException.LimitExceeded(
                $"UpdateShardCount cannot scale down a stream with more than {MaxUniformShardCount} shards unless the result is less than {MaxUniformShardCount} shards. Current open shard count: {current} Target shard count: {target}");
        await streams.CheckShardLimitAsync(db, target - current, ct);
        var plan = ReshardPlanner.Uniform([.. open.Select(s => new OpenShard(s.ShardIndex, new HashKeyRange(s.HashKeyStart, s.HashKeyEnd)))],
            target, stream.NextShardIndex);
        if (plan.Rounds.Count > 0)
            await StartReshardAsync(db, stream, "UpdateShardCount", plan, ct);

        using var w = call.Writer();
        w.StartObject();
        w.String("StreamName", stream.Name);
        w.Number("CurrentShardCount", current);
        w.Number("TargetShardCount", target);
        w.String("StreamARN", streams.ArnOf(stream.Name));
        w.EndObject();
        await call.RespondAsync(w);
    }

    /// <summary>Records the capacity mode; <see cref="Capacity.OnDemandScaler"/> scales ON_DEMAND streams.</summary>
    private async Task UpdateStreamModeAsync(ApiCall call)
    {
        var q = ParseReshard(call);
        var v = new Violations();
        v.NotNull("streamARN", q.StreamArn);
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn);
        v.NotNull("streamModeDetails.streamMode", q.StreamMode);
        v.Enum("streamModeDetails.streamMode", q.StreamMode, KinesisStreams.Modes);
        v.ThrowIfAny();
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name!, ct, tracked: true);
        if (stream.Status != StreamStatuses.Active)
            throw streams.NotActive(stream);
        if (stream.Mode == q.StreamMode)
            throw KinesisException.InvalidArgument($"Stream {stream.Name} under account {Account} is already in {q.StreamMode} mode.");
        if (q.StreamMode == Metadata.Entities.StreamModes.OnDemand)
            await streams.CheckOnDemandStreamLimitAsync(db, ct);
        // The managed service allows two mode switches per stream in any rolling 24 hours; each switch leaves an audit row.
        var now = time.GetUtcNow();
        var dayAgo = now - TimeSpan.FromHours(24);
        var arn = streams.ArnOf(stream.Name);
        var switches = await db.AuditEntries.CountAsync(a => a.Operation == "UpdateStreamMode" && a.Resource == arn && a.At > dayAgo, ct);
        if (switches >= MaxModeSwitchesPerDay)
            throw KinesisException.LimitExceeded(
                $"Stream {stream.Name} under account {Account} cannot change its capacity mode more than {MaxModeSwitchesPerDay} times in a rolling 24 hour period.");
        stream.Mode = q.StreamMode!;
        stream.Version++;
        db.AuditEntries.Add(new AuditEntryEntity
        {
            At = now,
            Principal = call.Principal,
            Operation = "UpdateStreamMode",
            Resource = arn,
            Outcome = "Succeeded",
            Details = $"{{\"streamMode\":\"{q.StreamMode}\"}}",
        });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw KinesisException.ResourceInUse($"Stream {stream.Name} under account {Account} is being changed by another request.");
        }
        routes.Invalidate(stream.Name);
        await call.RespondEmptyAsync();
    }
}
