using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Engine;

namespace Runnel.TestKit.Standalone;

/// <summary>
/// The deployed shape of the services that read shards directly (event source mappings, delivery streams), in one
/// process: a metadata database of its own on the test PostgreSQL server and one shard-store node (the real engine) that
/// every placement names. Streams are created straight in the catalog, so a test picks its shard count freely.
/// </summary>
public sealed class LocalShardCluster : IAsyncDisposable
{
    public const string Node = "node-a";
    private static readonly ShardSettings Day = new(TimeSpan.FromHours(24));

    private readonly TempDirectory _dir;
    private readonly PostgresDatabase _database;
    private readonly ServiceProvider _services;

    private LocalShardCluster(TempDirectory dir, PostgresDatabase database, ShardLogStore store, ServiceProvider services)
    {
        (_dir, _database, Store, _services) = (dir, database, store, services);
        Db = services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
    }

    public ShardLogStore Store { get; }

    public IDbContextFactory<MetadataDbContext> Db { get; }

    /// <summary>Metadata, metrics, logging, the locator of <see cref="Store"/> and what the caller added.</summary>
    public IServiceProvider Services => _services;

    /// <summary>A scratch folder that lives as long as the cluster.</summary>
    public string Combine(string name) => _dir.Combine(name);

    private sealed class Locator(ShardLogStore store) : IShardStoreLocator
    {
        public IShardStore ForNode(string nodeId) => nodeId == Node ? store : throw new InvalidOperationException($"No node {nodeId}.");
    }

    /// <param name="name">Prefix of the database's and the folder's names.</param>
    /// <param name="configure">More services (HTTP clients, options) for the code under test.</param>
    /// <param name="storeClock">The shard store's clock, which stamps the records' arrival times.</param>
    public static async Task<LocalShardCluster> StartAsync(string name, Action<IServiceCollection>? configure = null, TimeProvider? storeClock = null,
        CancellationToken ct = default)
    {
        var dir = new TempDirectory(name);
        var database = await PostgresDatabase.CreateAsync(name.Replace('-', '_'), ct);
        var store = new ShardLogStore(new ShardLogStoreOptions { DataDirectory = dir.Combine(Node), TimeProvider = storeClock ?? TimeProvider.System });
        var services = new ServiceCollection()
            .AddRunnelMetadata(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Metadata:Provider"] = "Postgres",
                ["ConnectionStrings:Metadata"] = database.ConnectionString,
            }).Build());
        services.AddMetrics();
        services.AddLogging();
        services.AddSingleton<IShardStoreLocator>(new Locator(store));
        services.AddSingleton(TimeProvider.System);
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider();
        await MetadataMigrations.MigrateAsync(provider, ct);
        return new LocalShardCluster(dir, database, store, provider);
    }

    /// <summary>Creates an ACTIVE stream with evenly split shards, all on <see cref="Node"/>, and opens them.</summary>
    public async Task<long> CreateStreamAsync(string name, int shards, CancellationToken ct = default)
    {
        await using var db = await Db.CreateDbContextAsync(ct);
        var stream = new StreamEntity { Name = name, Status = StreamStatuses.Active, CreatedAt = DateTimeOffset.UtcNow };
        stream.AddEvenlySplitShards(shards, stream.CreatedAt);
        db.Streams.Add(stream);
        await db.SaveChangesAsync(ct);
        for (var i = 0; i < shards; i++)
        {
            db.ShardPlacements.Add(new ShardPlacementEntity { StreamId = stream.Id, ShardIndex = i, NodeId = Node, Epoch = 1, AssignedAt = DateTimeOffset.UtcNow });
            await Store.OpenShardAsync(new ShardRef(stream.Id, i), 1, Day, ct);
        }
        await db.SaveChangesAsync(ct);
        return stream.Id;
    }

    /// <summary>Appends records to one shard in the order given and returns their sequence numbers.</summary>
    public async Task<List<string>> PutAsync(long streamId, int shard, IEnumerable<(string Key, string Data)> records, CancellationToken ct = default)
    {
        var sequences = new List<string>();
        foreach (var chunk in records.Chunk(500))
        {
            var result = await Store.AppendAsync(new ShardRef(streamId, shard), 1,
                [.. chunk.Select(r => new AppendRecord(r.Key, Encoding.UTF8.GetBytes(r.Data)))], ct);
            sequences.AddRange(Enumerable.Range(0, chunk.Length).Select(i => new SequenceNumber(shard, result.FirstOrdinal + (ulong)i).ToString()));
        }
        return sequences;
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await _services.DisposeAsync();
        await _database.DisposeAsync();
        _dir.Dispose();
    }
}
