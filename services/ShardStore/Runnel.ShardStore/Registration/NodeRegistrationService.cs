using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.ShardStore.Registration;

/// <summary>Upserts this node into <c>store_nodes</c> once the server listens, then refreshes its heartbeat.</summary>
public sealed partial class NodeRegistrationService(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IOptions<ShardStoreOptions> options,
    IServiceProvider services,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<NodeRegistrationService> logger) : BackgroundService
{
    private volatile bool _registered;

    /// <summary>True once the node's row was written at least once.</summary>
    public bool IsRegistered => _registered;

    public string? Address { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!lifetime.ApplicationStarted.IsCancellationRequested)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
            {
                try
                {
                    await started.Task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        Address = ResolveAddress();
        var interval = options.Value.HeartbeatInterval;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await HeartbeatAsync(Address, stoppingToken).ConfigureAwait(false);
                if (!_registered)
                    LogRegistered(options.Value.NodeId, Address);
                _registered = true;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogHeartbeatFailed(e, options.Value.NodeId);
            }
            try
            {
                await Task.Delay(_registered ? interval : TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task HeartbeatAsync(string address, CancellationToken cancellationToken)
    {
        var nodeId = options.Value.NodeId;
        var now = time.GetUtcNow();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var node = await db.StoreNodes.FirstOrDefaultAsync(n => n.NodeId == nodeId, cancellationToken).ConfigureAwait(false);
        if (node is null)
        {
            db.StoreNodes.Add(new StoreNodeEntity { NodeId = nodeId, Address = address, RegisteredAt = now, LastHeartbeatAt = now });
        }
        else
        {
            if (!_registered)
                node.RegisteredAt = now;
            node.Address = address;
            node.LastHeartbeatAt = now;
        }
        try
        {
            await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DbUpdateException) when (node is null)
        {
            // Another instance with the same id inserted first (a restart racing its predecessor): update next beat.
        }
    }

    private string ResolveAddress()
    {
        if (!string.IsNullOrWhiteSpace(options.Value.AdvertisedAddress))
            return options.Value.AdvertisedAddress.TrimEnd('/') + "/";
        // Peers call the node API, which only the internal listener serves.
        IEnumerable<string> addresses = services.GetService<InternalEndpoint>()?.Urls is { Count: > 0 } internalUrls
            ? internalUrls
            : services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var first = addresses.OrderBy(a => a.StartsWith("https", StringComparison.OrdinalIgnoreCase) ? 1 : 0).FirstOrDefault();
        if (first is null)
            return "http://localhost/";
        // A wildcard listener is reached by the host name (deployments set AdvertisedAddress to the pod's stable DNS name).
        var wildcard = first.Contains("://+", StringComparison.Ordinal) || first.Contains("://*", StringComparison.Ordinal)
            || first.Contains("://0.0.0.0", StringComparison.Ordinal) || first.Contains("://[::]", StringComparison.Ordinal);
        var uri = new UriBuilder(first.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal));
        if (wildcard)
            uri.Host = Environment.MachineName;
        return uri.Uri.ToString();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ShardStore node {NodeId} registered at {Address}")]
    private partial void LogRegistered(string nodeId, string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ShardStore node {NodeId} could not write its heartbeat")]
    private partial void LogHeartbeatFailed(Exception e, string nodeId);
}
