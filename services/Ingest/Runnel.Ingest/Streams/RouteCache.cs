using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Hashing;
using Runnel.Ingest.Options;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Ingest.Streams;

/// <summary>
/// Routing tables of writable streams, cached so that the data plane does not touch the metadata store
/// per request. An entry is replaced when the control plane of this process changes the stream, when a
/// shard owner refuses a request (moved or sealed shard), and after <see cref="IngestOptions.RouteCacheLifetime"/>.
/// Concurrent misses for one stream share one load. Streams that are not writable are never cached.
/// </summary>
public sealed class RouteCache(IDbContextFactory<MetadataDbContext> dbFactory, IOptions<IngestOptions> options)
{
    private readonly ConcurrentDictionary<string, StreamRoute> _byName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, StreamRoute> _byId = new();
    private readonly ConcurrentDictionary<string, Task<StreamRoute?>> _loadingByName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, Task<StreamRoute?>> _loadingById = new();
    private readonly long _lifetimeMs = (long)options.Value.RouteCacheLifetime.TotalMilliseconds;

    public static bool IsWritable(string status) => status is StreamStatuses.Active or StreamStatuses.Updating;

    private bool IsFresh(StreamRoute route) => Environment.TickCount64 - route.LoadedAtTicks < _lifetimeMs;

    public ValueTask<StreamRoute?> FindAsync(string name)
    {
        if (_byName.TryGetValue(name, out var route) && IsFresh(route))
            return ValueTask.FromResult<StreamRoute?>(route);
        return new ValueTask<StreamRoute?>(LoadSharedAsync(_loadingByName, name, n => LoadAsync(db => db.Streams.Where(s => s.Name == n))));
    }

    public ValueTask<StreamRoute?> FindAsync(long streamId)
    {
        if (_byId.TryGetValue(streamId, out var route) && IsFresh(route))
            return ValueTask.FromResult<StreamRoute?>(route);
        return new ValueTask<StreamRoute?>(LoadSharedAsync(_loadingById, streamId, id => LoadAsync(db => db.Streams.Where(s => s.Id == id))));
    }

    /// <summary>Drops the cached table of a stream and loads it again.</summary>
    public ValueTask<StreamRoute?> RefreshAsync(StreamRoute stale)
    {
        Invalidate(stale.Name);
        return FindAsync(stale.Name);
    }

    public void Invalidate(string name)
    {
        if (_byName.TryRemove(name, out var route))
            _byId.TryRemove(route.StreamId, out _);
    }

    private static async Task<StreamRoute?> LoadSharedAsync<TKey>(ConcurrentDictionary<TKey, Task<StreamRoute?>> loading, TKey key, Func<TKey, Task<StreamRoute?>> load)
        where TKey : notnull
    {
        var task = loading.GetOrAdd(key, load);
        try
        {
            return await task.ConfigureAwait(false);
        }
        finally
        {
            loading.TryRemove(new KeyValuePair<TKey, Task<StreamRoute?>>(key, task));
        }
    }

    private async Task<StreamRoute?> LoadAsync(Func<MetadataDbContext, IQueryable<StreamEntity>> select)
    {
        // Loads are shared by many callers, so none of their cancellation tokens applies.
        await using var db = await dbFactory.CreateDbContextAsync().ConfigureAwait(false);
        var stream = await select(db).AsNoTracking().FirstOrDefaultAsync().ConfigureAwait(false);
        if (stream is null)
            return null;
        var route = await BuildAsync(db, stream).ConfigureAwait(false);
        if (IsWritable(stream.Status))
        {
            _byName[route.Name] = route;
            _byId[route.StreamId] = route;
        }
        else
        {
            Invalidate(route.Name);
        }
        return route;
    }

    internal static async Task<StreamRoute> BuildAsync(MetadataDbContext db, StreamEntity stream)
    {
        var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id).ToListAsync().ConfigureAwait(false);
        var placements = (await ShardOwners.PlacementsAsync(db, stream.Id, null, CancellationToken.None).ConfigureAwait(false))
            .ToDictionary(p => p.ShardIndex);
        var routes = shards.Select(s =>
        {
            placements.TryGetValue(s.ShardIndex, out var placement);
            return new ShardRoute(s.ShardIndex, new HashKeyRange(s.HashKeyStart, s.HashKeyEnd), s.ParentShardIndex,
                s.AdjacentParentShardIndex, placement?.NodeId ?? "", placement?.Epoch ?? 0, s.EndingSequenceNumber is null);
        });
        return new StreamRoute(stream.Id, stream.Name, stream.Status, stream.MaxRecordSizeKiB * 1024, routes, Environment.TickCount64, stream.EncryptionType);
    }
}
