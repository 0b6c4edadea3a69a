using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Creates the administrator key named by <c>Security:BootstrapAccessKeyId</c> / <c>BootstrapSecretAccessKey</c> at
/// start when it does not exist, so a new deployment has one key to create the others with. An existing key is left
/// as it is (its policy may have been changed on purpose); replicas starting together may race, and one insert wins.
/// </summary>
internal sealed class BootstrapKeyService(AccessKeyStore keys, IOptions<SecurityOptions> options, ILogger<BootstrapKeyService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var security = options.Value;
        if (string.IsNullOrWhiteSpace(security.BootstrapAccessKeyId) || string.IsNullOrWhiteSpace(security.BootstrapSecretAccessKey))
            return;
        var id = security.BootstrapAccessKeyId;
        if (await keys.ExistsAsync(id, cancellationToken))
            return;
        try
        {
            await keys.CreateAsync("admin", AccessPolicy.AdministratorDocument, "bootstrap administrator (Security:BootstrapAccessKeyId)",
                id, security.BootstrapSecretAccessKey, cancellationToken);
            logger.LogInformation("Created the bootstrap administrator key {AccessKeyId}.", id);
        }
        catch (DbUpdateException)
        {
            // Another replica may have created it first; anything else is a real failure.
            if (!await keys.ExistsAsync(id, cancellationToken))
                throw;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
