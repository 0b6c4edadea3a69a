using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Internal;
using Runnel.ShardStore.Client;
using Runnel.TestKit;

namespace Runnel.ShardStore.Tests;

/// <summary>
/// ShardStore nodes on real Kestrel listeners (free loopback ports) sharing one metadata store, plus a client-side
/// service provider (locator, planner) configured the way Ingest configures it.
/// </summary>
public sealed class ShardStoreCluster : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("shardstore-it");
    private readonly List<WebApplication> _nodes = [];
    private readonly Dictionary<WebApplication, Uri> _internalAddresses = [];
    private readonly string _provider;
    private readonly string _connectionString;
    private readonly PostgresDatabase? _postgres;

    private ShardStoreCluster(string provider, string connectionString, PostgresDatabase? postgres, ServiceProvider clientServices)
    {
        _provider = provider;
        _connectionString = connectionString;
        _postgres = postgres;
        Client = clientServices;
    }

    public ServiceProvider Client { get; }

    /// <summary>A node's internal listener, where the node API is served (to callers with <see cref="InternalListener.Token"/>).</summary>
    public Uri InternalAddressOf(WebApplication node) => _internalAddresses[node];
    public IShardStoreLocator Locator => Client.GetRequiredService<IShardStoreLocator>();
    public PlacementPlanner Planner => Client.GetRequiredService<PlacementPlanner>();

    public static Task<ShardStoreCluster> SqliteAsync()
    {
        var file = Path.Combine(Path.GetTempPath(), "runnel-tests", $"meta-{Guid.NewGuid():N}.db");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        return CreateAsync("Sqlite", $"Data Source={file}", null);
    }

    public static async Task<ShardStoreCluster> PostgresAsync()
    {
        var database = await PostgresDatabase.CreateAsync("shardstore");
        return await CreateAsync("Postgres", database.ConnectionString, database);
    }

    private static async Task<ShardStoreCluster> CreateAsync(string provider, string connectionString, PostgresDatabase? postgres)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Metadata:Provider"] = provider,
            ["ConnectionStrings:Metadata"] = connectionString,
            ["Runnel:Internal:Token"] = InternalListener.Token,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddRunnelMetadata(configuration);
        services.AddShardStoreClient(configuration);
        var provider2 = services.BuildServiceProvider();
        await MetadataMigrations.MigrateAsync(provider2);
        return new ShardStoreCluster(provider, connectionString, postgres, provider2);
    }

    /// <summary>Starts a node and waits until it has registered itself in <c>store_nodes</c>.</summary>
    public async Task<WebApplication> StartNodeAsync(string nodeId, params string[] extraArgs)
    {
        var ports = FreePorts.Get(2);
        var (port, internalPort) = (ports[0], ports[1]);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args =
            [
                $"--urls=http://127.0.0.1:{port}",
                .. InternalListener.Arguments(new Uri($"http://127.0.0.1:{internalPort}")),
                $"--ShardStore:NodeId={nodeId}",
                $"--ShardStore:DataDirectory={_directory.Combine(nodeId)}",
                "--ShardStore:FencingRecheckInterval=00:00:00",
                "--ShardStore:HeartbeatInterval=00:00:01",
                $"--Metadata:Provider={_provider}",
                $"--ConnectionStrings:Metadata={_connectionString}",
                .. extraArgs,
            ],
        });
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults();
        builder.AddRunnelInternalEndpoint(servesInternalRoutes: true);
        builder.AddShardStore();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapShardStore();
        await app.StartAsync();
        _nodes.Add(app);
        _internalAddresses[app] = new Uri($"http://127.0.0.1:{internalPort}/");
        await Wait.UntilAsync(async () =>
        {
            await using var db = await DbAsync();
            return await db.StoreNodes.AnyAsync(n => n.NodeId == nodeId && n.Address.Contains(internalPort.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }, TimeSpan.FromSeconds(20), $"node {nodeId} to register");
        return app;
    }

    public Task<MetadataDbContext> DbAsync() =>
        Client.GetRequiredService<IDbContextFactory<MetadataDbContext>>().CreateDbContextAsync();

    public async Task PlaceAsync(ShardRef shard, string nodeId, long epoch)
    {
        await using var db = await DbAsync();
        var existing = await db.ShardPlacements.FirstOrDefaultAsync(p => p.StreamId == shard.StreamId && p.ShardIndex == shard.ShardIndex);
        if (existing is null)
            db.ShardPlacements.Add(new ShardPlacementEntity { StreamId = shard.StreamId, ShardIndex = shard.ShardIndex, NodeId = nodeId, Epoch = epoch, AssignedAt = DateTimeOffset.UtcNow });
        else
        {
            existing.NodeId = nodeId;
            existing.Epoch = epoch;
        }
        await db.SaveChangesAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.StopAsync();
            await node.DisposeAsync();
        }
        await Client.DisposeAsync();
        if (_postgres is not null)
            await _postgres.DisposeAsync();
        _directory.Dispose();
    }
}
