namespace Runnel.EndToEnd.Tests.Cluster;

/// <summary>One cluster shared by the client-compatibility tests; each test uses streams of its own.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private RunnelCluster? _cluster;

    public RunnelCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster did not start.");

    public async ValueTask InitializeAsync() =>
        _cluster = await RunnelCluster.StartAsync(new ClusterOptions(), TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
