using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Outbound;
using Runnel.ShardStore.Engine;
using Runnel.TestKit;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>A clock that runs with the system's, shifted by <see cref="Offset"/>.</summary>
public sealed class ShiftedClock : TimeProvider
{
    public TimeSpan Offset { get; set; }

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;
}

/// <summary>
/// Event source mapping delivery in its deployed shape, in one process: a metadata database of its own on the test
/// PostgreSQL server, one shard-store node (the real engine, in process) and delivery replicas, each its own
/// <see cref="MappingDeliveryService"/> with its own owner id. A replica can be stopped, or cut off from the metadata
/// store (it can then neither announce itself nor renew its leases, as when its process hangs or is partitioned).
/// </summary>
public sealed class MappingCluster : IAsyncDisposable
{
    public const string Node = "node-a";
    private static readonly ShardSettings Day = new(TimeSpan.FromHours(24));

    private readonly TempDirectory _dir = new("esm-cluster");
    private readonly List<MappingWorker> _workers = [];
    private ServiceProvider _services = null!;
    private PostgresDatabase _database = null!;
    private MappingOptions _options = null!;

    public ShardLogStore Store { get; private set; } = null!;
    public IDbContextFactory<MetadataDbContext> Db { get; private set; } = null!;
    public MappingRegistry Registry { get; private set; } = null!;

    private sealed class Locator(ShardLogStore store) : IShardStoreLocator
    {
        public IShardStore ForNode(string nodeId) => nodeId == Node ? store : throw new InvalidOperationException($"No node {nodeId}.");
    }

    /// <param name="options">Delivery settings of every replica.</param>
    /// <param name="storeClock">The shard store's clock, which stamps the records' arrival times.</param>
    public static async Task<MappingCluster> StartAsync(MappingOptions options, TimeProvider? storeClock = null)
    {
        var cluster = new MappingCluster { _options = options };
        cluster._database = await PostgresDatabase.CreateAsync("esm_balance", TestContext.Current.CancellationToken);
        cluster.Store = new ShardLogStore(new ShardLogStoreOptions { DataDirectory = cluster._dir.Combine(Node), TimeProvider = storeClock ?? TimeProvider.System });
        var services = new ServiceCollection()
            .AddRunnelMetadata(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Metadata:Provider"] = "Postgres",
                ["ConnectionStrings:Metadata"] = cluster._database.ConnectionString,
            }).Build());
        services.AddMetrics();
        services.AddLogging();
        services.AddSingleton<IShardStoreLocator>(new Locator(cluster.Store));
        services.AddHttpClient(MappingDeliveryService.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan);
        cluster._services = services.BuildServiceProvider();
        await MetadataMigrations.MigrateAsync(cluster._services, TestContext.Current.CancellationToken);
        cluster.Db = cluster._services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        cluster.Registry = new MappingRegistry(cluster.Db, cluster._services.GetRequiredService<IShardStoreLocator>(), Options.Create(new FanOutOptions()),
            new MappingSignal(), TimeProvider.System, new DestinationPolicy(["127.0.0.1"]));
        return cluster;
    }

    /// <summary>Creates an ACTIVE stream with evenly split shards, all on <see cref="Node"/>, and opens them.</summary>
    public async Task<long> CreateStreamAsync(string name, int shards)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await Db.CreateDbContextAsync(ct);
        var stream = new StreamEntity { Name = name, Status = StreamStatuses.Active, CreatedAt = DateTimeOffset.UtcNow, NextShardIndex = shards };
        db.Streams.Add(stream);
        await db.SaveChangesAsync(ct);
        var width = UInt128.MaxValue / (UInt128)shards;
        for (var i = 0; i < shards; i++)
        {
            db.Shards.Add(new ShardEntity
            {
                StreamId = stream.Id,
                ShardIndex = i,
                HashKeyStart = width * (UInt128)i,
                HashKeyEnd = i == shards - 1 ? UInt128.MaxValue : width * (UInt128)(i + 1) - 1,
                StartingSequenceNumber = new SequenceNumber(i, 0).ToString(),
                CreatedAt = DateTimeOffset.UtcNow,
            });
            db.ShardPlacements.Add(new ShardPlacementEntity { StreamId = stream.Id, ShardIndex = i, NodeId = Node, Epoch = 1, AssignedAt = DateTimeOffset.UtcNow });
            await Store.OpenShardAsync(new ShardRef(stream.Id, i), 1, Day, ct);
        }
        await db.SaveChangesAsync(ct);
        return stream.Id;
    }

    /// <summary>Appends records to one shard in the order given and returns their sequence numbers.</summary>
    public async Task<List<string>> PutAsync(long streamId, int shard, IEnumerable<(string Key, string Data)> records)
    {
        var sequences = new List<string>();
        foreach (var chunk in records.Chunk(500))
        {
            var result = await Store.AppendAsync(new ShardRef(streamId, shard), 1,
                [.. chunk.Select(r => new AppendRecord(r.Key, Encoding.UTF8.GetBytes(r.Data)))], TestContext.Current.CancellationToken);
            sequences.AddRange(Enumerable.Range(0, chunk.Length).Select(i => new SequenceNumber(shard, result.FirstOrdinal + (ulong)i).ToString()));
        }
        return sequences;
    }

    public async Task<string> CreateMappingAsync(object request)
    {
        var m = await Registry.CreateAsync(JsonSerializer.SerializeToElement(request), TestContext.Current.CancellationToken);
        return m.Uuid;
    }

    /// <summary>Starts a delivery replica named <paramref name="name"/>.</summary>
    public async Task<MappingWorker> AddWorkerAsync(string name)
    {
        var worker = new MappingWorker(this, name);
        _workers.Add(worker);
        await worker.Service.StartAsync(TestContext.Current.CancellationToken);
        return worker;
    }

    internal MappingDeliveryService NewService(string name, IDbContextFactory<MetadataDbContext> db) => new(
        db,
        _services.GetRequiredService<IShardStoreLocator>(),
        _services.GetRequiredService<IHttpClientFactory>(),
        new FailureDestination(db, _services.GetRequiredService<IShardStoreLocator>()),
        new MappingMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
        new MappingSignal(),
        Options.Create(_options),
        Options.Create(new FanOutOptions()),
        new ServiceIdentity(name, "test"),
        TimeProvider.System,
        NullLoggerFactory.Instance);

    /// <summary>How many unexpired leases of the mapping each owner holds, per the table.</summary>
    public async Task<Dictionary<string, int>> LeaseOwnersAsync(string uuid)
    {
        var application = MappingLeases.Application(uuid);
        var now = DateTimeOffset.UtcNow;
        await using var db = await Db.CreateDbContextAsync(TestContext.Current.CancellationToken);
        var rows = await db.Leases.AsNoTracking().Where(l => l.ApplicationName == application).ToListAsync(TestContext.Current.CancellationToken);
        return rows.Where(l => l.LeaseOwner is not null && l.LeaseExpiresAt > now).GroupBy(l => l.LeaseOwner!).ToDictionary(g => g.Key, g => g.Count());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
            await worker.DisposeAsync();
        await Store.DisposeAsync();
        await _services.DisposeAsync();
        await _database.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>One delivery replica of a <see cref="MappingCluster"/>.</summary>
public sealed class MappingWorker : IAsyncDisposable
{
    private readonly CuttableFactory _db;
    private bool _stopped;

    internal MappingWorker(MappingCluster cluster, string name)
    {
        _db = new CuttableFactory(cluster.Db);
        Service = cluster.NewService(name, _db);
    }

    public MappingDeliveryService Service { get; }

    public string Owner => Service.Owner;

    /// <summary>The leases this replica delivers, as of its last scan.</summary>
    public int Held => Service.HeldLeases.Count;

    /// <summary>From now on every use of the metadata store fails.</summary>
    public void CutOff() => _db.Cut = true;

    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Service.StopAsync(timeout.Token);
        Service.Dispose();
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    private sealed class CuttableFactory(IDbContextFactory<MetadataDbContext> inner) : IDbContextFactory<MetadataDbContext>
    {
        public volatile bool Cut;

        public MetadataDbContext CreateDbContext() => Cut ? throw new InvalidOperationException("Cut off from the metadata store.") : inner.CreateDbContext();
    }
}
