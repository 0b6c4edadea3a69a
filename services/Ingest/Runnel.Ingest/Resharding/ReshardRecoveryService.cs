using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Resharding;

/// <summary>
/// Pushes on every unfinished resharding operation: once when the process has started (what a crashed
/// process left midway resumes here) and then every <see cref="ReshardingOptions.RecoveryInterval"/> for
/// operations that have not moved for that long (a step whose retries ran out).
/// </summary>
public sealed class ReshardRecoveryService(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IBus bus,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<ReshardingOptions> options,
    ILogger<ReshardRecoveryService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The bus starts with the host; publishing before that would be lost or refused.
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        var interval = options.Value.RecoveryInterval;
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(first ? TimeSpan.Zero : interval, stoppingToken);
                first = false;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Looking for unfinished resharding operations failed");
            }
            try
            {
                await Task.Delay(interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SweepAsync(TimeSpan idleFor, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // Few rows; filtered in memory because SQLite stores DateTimeOffset as binary and cannot compare it.
        var open = await db.ReshardOperations.AsNoTracking().Where(o => o.Step != ReshardSteps.Done).ToListAsync(ct);
        var cutoff = time.GetUtcNow() - idleFor;
        foreach (var op in open.Where(o => o.UpdatedAt <= cutoff))
        {
            logger.LogInformation("Resuming resharding operation {Operation} at round {Round} step {Step}", op.Id, op.Round, op.Step);
            await bus.Publish(new AdvanceReshard(op.Id), ct);
        }
    }
}
