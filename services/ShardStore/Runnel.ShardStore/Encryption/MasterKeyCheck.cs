namespace Runnel.ShardStore.Encryption;

/// <summary>A node started with another master key than its encrypted streams' keys were created under does not start.</summary>
internal sealed class MasterKeyCheck(MetadataKeyring keyring) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => keyring.CheckMasterKeyAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
