using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Runnel.Metadata;

namespace Runnel.ServiceDefaults.Health;

/// <summary>Ready when the metadata store accepts a connection.</summary>
public sealed class MetadataHealthCheck(IDbContextFactory<MetadataDbContext> factory) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var db = await factory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
            return await db.Database.CanConnectAsync(cancellationToken).ConfigureAwait(false)
                ? HealthCheckResult.Healthy($"{db.Database.ProviderName} reachable")
                : new HealthCheckResult(context.Registration.FailureStatus, "metadata store refused the connection");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "metadata store unreachable", ex);
        }
    }
}
