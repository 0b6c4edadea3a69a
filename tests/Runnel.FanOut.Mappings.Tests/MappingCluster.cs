using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ServiceDefaults.Outbound;
using Runnel.ShardStore.Engine;
using Runnel.TestKit.Standalone;

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
    private readonly List<MappingWorker> _workers = [];
    private LocalShardCluster _shards = null!;
    private MappingOptions _options = null!;

    public ShardLogStore Store => _shards.Store;
    public IDbContextFactory<MetadataDbContext> Db => _shards.Db;
    public MappingRegistry Registry { get; private set; } = null!;

    /// <param name="options">Delivery settings of every replica.</param>
    /// <param name="storeClock">The shard store's clock, which stamps the records' arrival times.</param>
    public static async Task<MappingCluster> StartAsync(MappingOptions options, TimeProvider? storeClock = null)
    {
        var cluster = new MappingCluster { _options = options };
        cluster._shards = await LocalShardCluster.StartAsync("esm-balance",
            services => services.AddHttpClient(MappingDeliveryService.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan),
            storeClock, TestContext.Current.CancellationToken);
        cluster.Registry = new MappingRegistry(cluster.Db, cluster.Services.GetRequiredService<IShardStoreLocator>(), Options.Create(new FanOutOptions()),
            new MappingSignal(), TimeProvider.System, new DestinationPolicy(["127.0.0.1"]));
        return cluster;
    }

    private IServiceProvider Services => _shards.Services;

    /// <summary>Creates an ACTIVE stream with evenly split shards, all on one node, and opens them.</summary>
    public Task<long> CreateStreamAsync(string name, int shards) => _shards.CreateStreamAsync(name, shards, TestContext.Current.CancellationToken);

    /// <summary>Appends records to one shard in the order given and returns their sequence numbers.</summary>
    public Task<List<string>> PutAsync(long streamId, int shard, IEnumerable<(string Key, string Data)> records) =>
        _shards.PutAsync(streamId, shard, records, TestContext.Current.CancellationToken);

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
        Services.GetRequiredService<IShardStoreLocator>(),
        Services.GetRequiredService<IHttpClientFactory>(),
        new FailureDestination(db, Services.GetRequiredService<IShardStoreLocator>()),
        new MappingMetrics(Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
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
        await _shards.DisposeAsync();
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
