using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Ingest.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Ingest.Resharding;

/// <summary>
/// Runs one step of a resharding operation and records the next one. Per round:
/// PLACE (placement rows for the children) -> OPEN (children opened on their owners; nothing routes to
/// them yet) -> SEAL (parents closed for writes on their owners) -> COMMIT (in one transaction: children
/// rows, parents' EndingSequenceNumber and ClosedAt, the next round or the stream back to ACTIVE).
/// Children are ready before the parents seal, so writes to the parents' keys wait only from the seal to the
/// commit. A parent's last record is sealed before any child row exists, so every record of a key in a parent
/// precedes the key's records in the child. Each step is idempotent and the row moves on only after the step
/// succeeded, so a step cut by a crash is simply run again.
/// </summary>
public sealed class ReshardExecutor(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator stores,
    IShardPlacer placer,
    RouteCache routes,
    TimeProvider time,
    IOptions<ReshardingOptions> options,
    ILogger<ReshardExecutor> logger)
{
    private readonly ConcurrentDictionary<Guid, SemaphoreSlim> _running = new();

    /// <summary>Runs the current step; true when there is a further step to run.</summary>
    public async Task<bool> AdvanceAsync(Guid operationId, CancellationToken ct)
    {
        // Two deliveries of one operation in this process (the workflow and the recovery sweep) take turns.
        var gate = _running.GetOrAdd(operationId, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            return await AdvanceCoreAsync(operationId, ct);
        }
        finally
        {
            gate.Release();
        }
    }

    public bool IsPausedBefore(string step) =>
        string.Equals(options.Value.PauseBeforeStep, step, StringComparison.OrdinalIgnoreCase);

    private async Task<bool> AdvanceCoreAsync(Guid operationId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var op = await db.ReshardOperations.FirstOrDefaultAsync(o => o.Id == operationId, ct);
        if (op is null || op.Step == ReshardSteps.Done)
            return false;
        if (IsPausedBefore(op.Step))
        {
            logger.LogWarning("Resharding operation {Operation} paused before {Step} (Resharding:PauseBeforeStep)", op.Id, op.Step);
            return false;
        }
        var stream = await db.Streams.FirstOrDefaultAsync(s => s.Id == op.StreamId, ct);
        if (stream is null || stream.Status == StreamStatuses.Deleting)
        {
            await FinishAsync(db, op, ct);
            return false;
        }
        var plan = ReshardPlan.Deserialize(op.Plan);
        var round = plan.Rounds[op.Round];
        logger.LogInformation("Resharding {Stream}: operation {Operation} round {Round} step {Step}", stream.Name, op.Id, op.Round, op.Step);
        switch (op.Step)
        {
            case ReshardSteps.Place:
                await PlaceAsync(db, op, round, ct);
                return await MoveAsync(db, op, ReshardSteps.Open, ct);
            case ReshardSteps.Open:
                await OpenAsync(db, stream, round, ct);
                return await MoveAsync(db, op, ReshardSteps.Seal, ct);
            case ReshardSteps.Seal:
                await SealAsync(db, stream, round, ct);
                return await MoveAsync(db, op, ReshardSteps.Commit, ct);
            case ReshardSteps.Commit:
                var more = await CommitAsync(db, stream, op, plan, ct);
                routes.Invalidate(stream.Name);
                return more;
            default:
                throw new InvalidOperationException($"Unknown resharding step {op.Step}.");
        }
    }

    private async Task PlaceAsync(MetadataDbContext db, ReshardOperationEntity op, ReshardRound round, CancellationToken ct)
    {
        var indexes = round.Children.Select(c => c.Index).ToList();
        var placed = (await ShardOwners.PlacementsAsync(db, op.StreamId, indexes, ct)).Select(p => p.ShardIndex).ToList();
        var missing = indexes.Except(placed).ToList();
        if (missing.Count == 0)
            return;
        await placer.WaitForNodesAsync(db, ct);
        // Saved together with the step change (MoveAsync), so a crash leaves both or neither.
        await placer.PlaceAsync(db, op.StreamId, missing, ct);
    }

    private async Task OpenAsync(MetadataDbContext db, StreamEntity stream, ReshardRound round, CancellationToken ct)
    {
        var settings = new ShardSettings(TimeSpan.FromHours(stream.RetentionHours));
        var placements = await PlacementsAsync(db, stream.Id, round.Children.Select(c => c.Index), ct);
        await Task.WhenAll(placements.Select(p =>
            stores.ForNode(p.NodeId).OpenShardAsync(new ShardRef(stream.Id, p.ShardIndex), p.Epoch, settings, ct)));
    }

    private async Task<Dictionary<int, ulong>> SealAsync(MetadataDbContext db, StreamEntity stream, ReshardRound round, CancellationToken ct)
    {
        var placements = await PlacementsAsync(db, stream.Id, round.Parents, ct);
        var states = await Task.WhenAll(placements.Select(p =>
            stores.ForNode(p.NodeId).SealShardAsync(new ShardRef(stream.Id, p.ShardIndex), p.Epoch, ct)));
        return states.ToDictionary(s => s.Shard.ShardIndex, s => s.SealedAtOrdinal ?? s.NextOrdinal);
    }

    private async Task<bool> CommitAsync(MetadataDbContext db, StreamEntity stream, ReshardOperationEntity op, ReshardPlan plan, CancellationToken ct)
    {
        var round = plan.Rounds[op.Round];
        // Sealing again is a no-op that reports where each parent ended.
        var sealedAt = await SealAsync(db, stream, round, ct);
        var now = time.GetUtcNow();
        var indexes = round.Children.Select(c => c.Index).Concat(round.Parents).ToList();
        var shards = await db.Shards.Where(s => s.StreamId == stream.Id && indexes.Contains(s.ShardIndex)).ToDictionaryAsync(s => s.ShardIndex, ct);
        foreach (var child in round.Children)
        {
            if (shards.ContainsKey(child.Index))
                continue;
            db.Shards.Add(new ShardEntity
            {
                StreamId = stream.Id,
                ShardIndex = child.Index,
                HashKeyStart = child.Range.Start,
                HashKeyEnd = child.Range.End,
                ParentShardIndex = child.Parent,
                AdjacentParentShardIndex = child.AdjacentParent,
                StartingSequenceNumber = new SequenceNumber(child.Index, 0).ToString(),
                CreatedAt = now,
            });
        }
        foreach (var parent in round.Parents)
        {
            var shard = shards[parent];
            if (shard.EndingSequenceNumber is not null)
                continue;
            // The last record's number; an empty shard ends at its starting number.
            var end = sealedAt[parent];
            shard.EndingSequenceNumber = new SequenceNumber(parent, end == 0 ? 0 : end - 1).ToString();
            shard.ClosedAt = now;
        }
        var last = op.Round == plan.Rounds.Count - 1;
        if (last)
        {
            stream.Status = StreamStatuses.Active;
            op.Step = ReshardSteps.Done;
            op.CompletedAt = now;
        }
        else
        {
            op.Round++;
            op.Step = ReshardSteps.Place;
        }
        stream.Version++;
        op.Version++;
        op.UpdatedAt = now;
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e)
        {
            // Another worker committed this round first (or the stream went away); the sweep looks again.
            logger.LogInformation(e, "Resharding {Stream}: commit of operation {Operation} lost a race", stream.Name, op.Id);
            return false;
        }
        logger.LogInformation("Resharding {Stream}: operation {Operation} committed round {Round}", stream.Name, op.Id, last ? op.Round : op.Round - 1);
        return !last;
    }

    private async Task<bool> MoveAsync(MetadataDbContext db, ReshardOperationEntity op, string step, CancellationToken ct)
    {
        op.Step = step;
        op.Version++;
        op.UpdatedAt = time.GetUtcNow();
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e)
        {
            // Another worker moved it on and carries it forward; any other failure is retried by the sweep.
            logger.LogInformation(e, "Resharding operation {Operation}: step {Step} was not recorded", op.Id, step);
            return false;
        }
        return true;
    }

    private async Task FinishAsync(MetadataDbContext db, ReshardOperationEntity op, CancellationToken ct)
    {
        op.Step = ReshardSteps.Done;
        op.CompletedAt = time.GetUtcNow();
        op.Version++;
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // The stream and with it the operation were deleted meanwhile.
        }
    }

    private static async Task<List<ShardPlacementEntity>> PlacementsAsync(MetadataDbContext db, long streamId, IEnumerable<int> indexes, CancellationToken ct)
    {
        var wanted = indexes.ToList();
        var placements = await ShardOwners.PlacementsAsync(db, streamId, wanted, ct);
        if (placements.Count != wanted.Count)
            throw new InvalidOperationException($"Shards {string.Join(',', wanted.Except(placements.Select(p => p.ShardIndex)))} of stream {streamId} have no placement.");
        return placements;
    }
}
