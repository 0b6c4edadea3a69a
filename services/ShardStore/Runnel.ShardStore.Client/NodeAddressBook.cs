using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Runnel.Metadata;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.ShardStore.Client;

/// <summary>
/// Base addresses of ShardStore nodes. With Dapr enabled a node is reached through the local sidecar by its node id
/// (the app id); otherwise at the Address it registered in <c>store_nodes</c>, cached and re-read on a miss or after
/// a connection failure.
/// </summary>
public sealed class NodeAddressBook(IDbContextFactory<MetadataDbContext> dbFactory, ServiceInvocation invocation)
{
    private readonly ConcurrentDictionary<string, Uri> _addresses = new(StringComparer.Ordinal);

    public async ValueTask<Uri> ResolveAsync(string nodeId, CancellationToken cancellationToken)
    {
        if (_addresses.TryGetValue(nodeId, out var cached))
            return cached;
        if (invocation.UsesDapr)
            return _addresses.GetOrAdd(nodeId, id => invocation.BaseAddressFor(id, "http://unused/"));
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        var address = await db.StoreNodes.AsNoTracking()
            .Where(n => n.NodeId == nodeId)
            .Select(n => n.Address)
            .FirstOrDefaultAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new ShardStoreUnavailableException(nodeId, $"ShardStore node '{nodeId}' is not registered.");
        var uri = invocation.BaseAddressFor(nodeId, address);
        _addresses[nodeId] = uri;
        return uri;
    }

    /// <summary>Forgets a node's address so the next call reads it again (the node may have moved).</summary>
    public void Invalidate(string nodeId) => _addresses.TryRemove(nodeId, out _);
}

/// <summary>A ShardStore node could not be reached or failed internally; the outcome of a write sent to it is unknown.</summary>
public sealed class ShardStoreUnavailableException(string nodeId, string message, Exception? inner = null) : Exception(message, inner)
{
    public string NodeId { get; } = nodeId;
}
