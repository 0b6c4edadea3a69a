using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Runnel.Ingest.Capacity;

/// <summary>One shard's traffic in one second, summed over every replica. Bytes are data plus partition key.</summary>
public readonly record struct ShardSecond(long Bytes, long Records, long ThrottledBytes, long ThrottledRecords)
{
    public long OfferedBytes => Bytes + ThrottledBytes;

    public long OfferedRecords => Records + ThrottledRecords;

    public ShardSecond Plus(ShardSecond o) => new(Bytes + o.Bytes, Records + o.Records, ThrottledBytes + o.ThrottledBytes, ThrottledRecords + o.ThrottledRecords);
}

/// <summary>A stream's traffic per shard and second over <c>[From, From + Seconds)</c> (unix seconds).</summary>
public sealed class StreamTraffic(long from, int seconds)
{
    public long From { get; } = from;

    public int Seconds { get; } = seconds;

    public Dictionary<int, ShardSecond[]> Shards { get; } = [];

    public void Add(int shard, long second, ShardSecond value)
    {
        var i = second - From;
        if (i < 0 || i >= Seconds)
            return;
        if (!Shards.TryGetValue(shard, out var series))
            Shards[shard] = series = new ShardSecond[Seconds];
        series[i] = series[i].Plus(value);
    }

    public ShardSecond[] Of(int shard) => Shards.TryGetValue(shard, out var s) ? s : new ShardSecond[Seconds];
}

/// <summary>
/// Where replicas publish their counts, by unix second, so that the scaler and the hot-key reports see the
/// traffic of the whole cluster. Redis when configured, this process's memory otherwise.
/// </summary>
public interface ITrafficStore
{
    Task PublishAsync(long second, IReadOnlyList<ShardSample> samples, CancellationToken cancellationToken);

    /// <summary>Traffic of every shard of a stream over the seconds <c>[from, from + seconds)</c>.</summary>
    Task<StreamTraffic> ReadAsync(long streamId, long from, int seconds, CancellationToken cancellationToken);

    /// <summary>The heaviest partition keys of one shard over the seconds <c>[from, from + seconds)</c>, heaviest first.</summary>
    Task<IReadOnlyList<KeyWeight>> HotKeysAsync(long streamId, int shardIndex, long from, int seconds, int count, CancellationToken cancellationToken);
}

internal static class TrafficRetention
{
    /// <summary>Seconds a bucket is kept: the longest window read, plus slack for clock differences between replicas.</summary>
    public static int Seconds(CapacityOptions o) => (int)Math.Ceiling(Math.Max(o.Window.TotalSeconds, o.HotKeyWindow.TotalSeconds)) + 60;

    public static IReadOnlyList<KeyWeight> Top(Dictionary<string, long> merged, int count)
    {
        var all = merged.Select(kv => new KeyWeight(kv.Key, kv.Value)).ToList();
        all.Sort((a, b) => b.Bytes != a.Bytes ? b.Bytes.CompareTo(a.Bytes) : string.CompareOrdinal(a.Key, b.Key));
        return all.Count > count ? all[..count] : all;
    }
}

/// <summary>Counts kept in this process (Standalone, or a single replica without Redis).</summary>
public sealed class InProcessTrafficStore(IOptions<CapacityOptions> options) : ITrafficStore
{
    private readonly ConcurrentDictionary<(long Stream, long Second), Bucket> _buckets = new();
    private readonly int _retention = TrafficRetention.Seconds(options.Value);

    public Task PublishAsync(long second, IReadOnlyList<ShardSample> samples, CancellationToken cancellationToken)
    {
        foreach (var s in samples)
        {
            var bucket = _buckets.GetOrAdd((s.StreamId, second), _ => new Bucket());
            lock (bucket)
            {
                bucket.Counts[s.ShardIndex] = (bucket.Counts.TryGetValue(s.ShardIndex, out var c) ? c : default)
                    .Plus(new ShardSecond(s.Bytes, s.Records, s.ThrottledBytes, s.ThrottledRecords));
                if (!bucket.Keys.TryGetValue(s.ShardIndex, out var keys))
                    bucket.Keys[s.ShardIndex] = keys = new Dictionary<string, long>(StringComparer.Ordinal);
                foreach (var k in s.TopKeys)
                    keys[k.Key] = (keys.TryGetValue(k.Key, out var b) ? b : 0) + k.Bytes;
            }
        }
        foreach (var key in _buckets.Keys)
            if (key.Second < second - _retention)
                _buckets.TryRemove(key, out _);
        return Task.CompletedTask;
    }

    public Task<StreamTraffic> ReadAsync(long streamId, long from, int seconds, CancellationToken cancellationToken)
    {
        var traffic = new StreamTraffic(from, seconds);
        for (var sec = from; sec < from + seconds; sec++)
        {
            if (!_buckets.TryGetValue((streamId, sec), out var bucket))
                continue;
            lock (bucket)
            {
                foreach (var (shard, c) in bucket.Counts)
                    traffic.Add(shard, sec, c);
            }
        }
        return Task.FromResult(traffic);
    }

    public Task<IReadOnlyList<KeyWeight>> HotKeysAsync(long streamId, int shardIndex, long from, int seconds, int count, CancellationToken cancellationToken)
    {
        var merged = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var sec = from; sec < from + seconds; sec++)
        {
            if (!_buckets.TryGetValue((streamId, sec), out var bucket))
                continue;
            lock (bucket)
            {
                if (bucket.Keys.TryGetValue(shardIndex, out var keys))
                    foreach (var (k, b) in keys)
                        merged[k] = (merged.TryGetValue(k, out var m) ? m : 0) + b;
            }
        }
        return Task.FromResult(TrafficRetention.Top(merged, count));
    }

    private sealed class Bucket
    {
        public readonly Dictionary<int, ShardSecond> Counts = [];
        public readonly Dictionary<int, Dictionary<string, long>> Keys = [];
    }
}

/// <summary>
/// Counts in Redis, shared by every replica. Per stream and second one hash (<c>{shard}:b|r|tb|tr</c> fields,
/// HINCRBY) and per shard and second one sorted set of key bytes (ZINCRBY). Each replica writes once per flush
/// interval in one pipeline, whatever its request rate; keys expire after <see cref="TrafficRetention"/>.
/// The stream id is the hash tag, so one stream's keys share a cluster slot.
/// </summary>
public sealed class RedisTrafficStore(IConnectionMultiplexer redis, IOptions<CapacityOptions> options) : ITrafficStore
{
    private readonly string _prefix = options.Value.KeyPrefix;
    private readonly TimeSpan _ttl = TimeSpan.FromSeconds(TrafficRetention.Seconds(options.Value));

    private string CountsKey(long stream, long second) => string.Create(CultureInfo.InvariantCulture, $"{_prefix}:{{{stream}}}:t:{second}");

    private string KeysKey(long stream, int shard, long second) => string.Create(CultureInfo.InvariantCulture, $"{_prefix}:{{{stream}}}:k:{shard}:{second}");

    public async Task PublishAsync(long second, IReadOnlyList<ShardSample> samples, CancellationToken cancellationToken)
    {
        if (samples.Count == 0)
            return;
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var tasks = new List<Task>();
        var expire = new HashSet<RedisKey>();
        foreach (var s in samples)
        {
            var key = CountsKey(s.StreamId, second);
            var shard = s.ShardIndex.ToString(CultureInfo.InvariantCulture);
            if (s.Bytes != 0) tasks.Add(batch.HashIncrementAsync(key, shard + ":b", s.Bytes));
            if (s.Records != 0) tasks.Add(batch.HashIncrementAsync(key, shard + ":r", s.Records));
            if (s.ThrottledBytes != 0) tasks.Add(batch.HashIncrementAsync(key, shard + ":tb", s.ThrottledBytes));
            if (s.ThrottledRecords != 0) tasks.Add(batch.HashIncrementAsync(key, shard + ":tr", s.ThrottledRecords));
            expire.Add(key);
            if (s.TopKeys.Count > 0)
            {
                var keysKey = KeysKey(s.StreamId, s.ShardIndex, second);
                foreach (var k in s.TopKeys)
                    tasks.Add(batch.SortedSetIncrementAsync(keysKey, k.Key, k.Bytes));
                expire.Add(keysKey);
            }
        }
        foreach (var key in expire)
            tasks.Add(batch.KeyExpireAsync(key, _ttl));
        batch.Execute();
        await Task.WhenAll(tasks).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<StreamTraffic> ReadAsync(long streamId, long from, int seconds, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var reads = new Task<HashEntry[]>[seconds];
        for (var i = 0; i < seconds; i++)
            reads[i] = batch.HashGetAllAsync(CountsKey(streamId, from + i));
        batch.Execute();
        await Task.WhenAll(reads).WaitAsync(cancellationToken).ConfigureAwait(false);
        var traffic = new StreamTraffic(from, seconds);
        for (var i = 0; i < seconds; i++)
        {
            foreach (var entry in reads[i].Result)
            {
                var field = entry.Name.ToString();
                var colon = field.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0 || !int.TryParse(field.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var shard) || !entry.Value.TryParse(out long v))
                    continue;
                var value = field.AsSpan(colon + 1) switch
                {
                    "b" => new ShardSecond(v, 0, 0, 0),
                    "r" => new ShardSecond(0, v, 0, 0),
                    "tb" => new ShardSecond(0, 0, v, 0),
                    "tr" => new ShardSecond(0, 0, 0, v),
                    _ => default,
                };
                traffic.Add(shard, from + i, value);
            }
        }
        return traffic;
    }

    public async Task<IReadOnlyList<KeyWeight>> HotKeysAsync(long streamId, int shardIndex, long from, int seconds, int count, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var reads = new Task<SortedSetEntry[]>[seconds];
        for (var i = 0; i < seconds; i++)
            reads[i] = batch.SortedSetRangeByRankWithScoresAsync(KeysKey(streamId, shardIndex, from + i), 0, -1, Order.Descending);
        batch.Execute();
        await Task.WhenAll(reads).WaitAsync(cancellationToken).ConfigureAwait(false);
        var merged = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var read in reads)
            foreach (var e in read.Result)
            {
                var k = e.Element.ToString();
                merged[k] = (merged.TryGetValue(k, out var m) ? m : 0) + (long)e.Score;
            }
        return TrafficRetention.Top(merged, count);
    }
}
