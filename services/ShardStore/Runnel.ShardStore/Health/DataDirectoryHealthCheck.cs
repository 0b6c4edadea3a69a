using Microsoft.Extensions.Diagnostics.HealthChecks;
using Runnel.ShardStore.Engine;

namespace Runnel.ShardStore.Health;

/// <summary>Ready when the data directory accepts a write and the engine has not stopped after a write failure.</summary>
public sealed class DataDirectoryHealthCheck(ShardLogStore engine) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (engine.Fault is { } fault)
            return new HealthCheckResult(context.Registration.FailureStatus, "the shard store stopped after a write failure", fault);
        var probe = Path.Combine(engine.Options.DataDirectory, $".probe-{Guid.NewGuid():N}");
        try
        {
            await File.WriteAllBytesAsync(probe, [1], cancellationToken).ConfigureAwait(false);
            File.Delete(probe);
            return engine.LowOnSpace
                ? HealthCheckResult.Degraded("the data directory's disk is nearly full: appends are refused until space is freed")
                : HealthCheckResult.Healthy("data directory is writable");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "data directory is not writable", e);
        }
    }
}
