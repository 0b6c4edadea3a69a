using System.Collections.Concurrent;
using Runnel.Core.Storage;

namespace Runnel.ShardStore.Client;

/// <summary>A ShardStore node hosted in this process (Standalone, or the node host itself): reached without the network.</summary>
public sealed record LocalShardStoreNode(string NodeId, IShardStore Store);

/// <summary>Returns the in-process store for a local node and one cached HTTP client per remote node.</summary>
public sealed class ShardStoreLocator(IEnumerable<LocalShardStoreNode> localNodes, IHttpClientFactory httpClients, NodeAddressBook addresses) : IShardStoreLocator
{
    public const string HttpClientName = "Runnel.ShardStore";

    private readonly Dictionary<string, IShardStore> _local = localNodes.ToDictionary(n => n.NodeId, n => n.Store, StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IShardStore> _remote = new(StringComparer.Ordinal);

    public IShardStore ForNode(string nodeId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        if (_local.TryGetValue(nodeId, out var local))
            return local;
        // The named client's handler recycles its connections (PooledConnectionLifetime), so holding one client per node is safe.
        return _remote.GetOrAdd(nodeId, id => new HttpShardStoreClient(httpClients.CreateClient(HttpClientName), id, addresses));
    }
}
