using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Runnel.Ingest.Operations;
using Runnel.Ingest.Throttling;

namespace Runnel.Ingest.Capacity;

/// <summary>What one replica counted for one shard since its last flush. Bytes are data plus partition key.</summary>
public sealed record ShardSample(long StreamId, int ShardIndex, long Bytes, long Records, long ThrottledBytes, long ThrottledRecords, IReadOnlyList<KeyWeight> TopKeys);

/// <summary>A partition key and the bytes written with it (an estimate from the sketch, never below the truth).</summary>
public readonly record struct KeyWeight(string Key, long Bytes);

/// <summary>
/// Counts the writes offered to each shard by this process (accepted and throttled apart) and the heaviest
/// partition keys, until <see cref="TrafficFlushService"/> drains them into the shared store. A write costs
/// one dictionary lookup per shard touched and a few interlocked adds; keys (at most 64 per shard and request,
/// sampled beyond) go through a sketch whose lock is only tried: a request that finds it busy is left out of the
/// key sample (its bytes still count).
/// </summary>
public sealed class TrafficRecorder(IOptions<CapacityOptions> options)
{
    private readonly ConcurrentDictionary<(long Stream, int Shard), ShardTraffic> _shards = new();
    private readonly int _tracked = options.Value.HotKeysTracked;

    /// <summary>Keys of one shard's records in one request that go into the sketch at most; the rest are sampled.</summary>
    private const int MaxKeysPerGroup = 64;

    /// <summary>One PutRecord: its key and size, and whether the limiter admitted it.</summary>
    public void PutRecord(long streamId, int shardIndex, string partitionKey, int size, bool admitted)
    {
        var t = Shard(streamId, shardIndex);
        Count(t, size, 1, admitted ? 1 : 0, admitted ? size : 0);
        if (Monitor.TryEnter(t.Keys))
        {
            try
            {
                t.Keys.Add(partitionKey, size);
            }
            finally
            {
                Monitor.Exit(t.Keys);
            }
        }
    }

    /// <summary>
    /// One PutRecords: for each shard group (the limiter's demand, the records' indexes in the batch, and how
    /// many of them the limiter admitted as a prefix).
    /// </summary>
    internal void PutRecords(long streamId, IReadOnlyList<ShardWriteDemand> demands, IReadOnlyList<int> granted, IReadOnlyList<List<int>> groups, KinesisDataPlane.Batch batch)
    {
        for (var g = 0; g < demands.Count; g++)
        {
            var sizes = demands[g].RecordSizes;
            var t = Shard(streamId, demands[g].ShardIndex);
            long all = 0, admittedBytes = 0;
            var admitted = Math.Min(granted[g], sizes.Count);
            for (var j = 0; j < sizes.Count; j++)
            {
                all += sizes[j];
                if (j < admitted)
                    admittedBytes += sizes[j];
            }
            Count(t, all, sizes.Count, admitted, admittedBytes);
            if (!Monitor.TryEnter(t.Keys))
                continue;
            try
            {
                // A large group is sampled: each record with probability 1/stride, standing for stride times its
                // bytes, so the estimate stays unbiased (a fixed stride would alias with periodic key patterns)
                // and the sketch sees about MaxKeysPerGroup records per request.
                var indexes = groups[g];
                var stride = (sizes.Count + MaxKeysPerGroup - 1) / MaxKeysPerGroup;
                for (var j = 0; j < sizes.Count; j++)
                    if (stride == 1 || Random.Shared.Next(stride) == 0)
                        t.Keys.Add(batch.Records[indexes[j]].PartitionKey!, (long)sizes[j] * stride);
            }
            finally
            {
                Monitor.Exit(t.Keys);
            }
        }
    }

    private ShardTraffic Shard(long streamId, int shardIndex) =>
        _shards.TryGetValue((streamId, shardIndex), out var t) ? t : _shards.GetOrAdd((streamId, shardIndex), _ => new ShardTraffic(_tracked));

    private static void Count(ShardTraffic t, long bytes, long records, long admittedRecords, long admittedBytes)
    {
        Interlocked.Add(ref t.Bytes, admittedBytes);
        Interlocked.Add(ref t.Records, admittedRecords);
        if (records > admittedRecords)
        {
            Interlocked.Add(ref t.ThrottledBytes, bytes - admittedBytes);
            Interlocked.Add(ref t.ThrottledRecords, records - admittedRecords);
        }
        t.Touched = true;
    }

    /// <summary>Takes and resets everything counted since the last drain. Shards idle for a whole interval are forgotten.</summary>
    public List<ShardSample> Drain()
    {
        var samples = new List<ShardSample>();
        foreach (var (key, t) in _shards)
        {
            if (!t.Touched)
            {
                _shards.TryRemove(new KeyValuePair<(long, int), ShardTraffic>(key, t));
                continue;
            }
            t.Touched = false;
            KeyWeight[] top;
            lock (t.Keys)
            {
                top = t.Keys.TakeAll();
            }
            samples.Add(new ShardSample(key.Stream, key.Shard,
                Interlocked.Exchange(ref t.Bytes, 0), Interlocked.Exchange(ref t.Records, 0),
                Interlocked.Exchange(ref t.ThrottledBytes, 0), Interlocked.Exchange(ref t.ThrottledRecords, 0), top));
        }
        return samples;
    }

    private sealed class ShardTraffic(int tracked)
    {
        public long Bytes, Records, ThrottledBytes, ThrottledRecords;
        public volatile bool Touched;
        public readonly SpaceSaving Keys = new(tracked);
    }
}

/// <summary>
/// Weighted space-saving sketch (Metwally et al.): keeps at most <c>capacity</c> keys; a new key replaces the
/// lightest and inherits its weight, so any key heavier than total/capacity is certainly kept and no estimate is
/// below the key's true weight. Not thread-safe. Keys are the callers' strings, so adding allocates nothing.
/// </summary>
public sealed class SpaceSaving(int capacity)
{
    private readonly Dictionary<string, int> _slots = new(capacity, StringComparer.Ordinal);
    private readonly string[] _keys = new string[capacity];
    private readonly long[] _weights = new long[capacity];
    private int _count;

    public void Add(string key, long weight)
    {
        if (_slots.TryGetValue(key, out var slot))
        {
            _weights[slot] += weight;
            return;
        }
        if (_count < _keys.Length)
        {
            slot = _count++;
            _weights[slot] = weight;
        }
        else
        {
            slot = 0;
            for (var i = 1; i < _count; i++)
                if (_weights[i] < _weights[slot])
                    slot = i;
            _slots.Remove(_keys[slot]);
            _weights[slot] += weight;
        }
        _keys[slot] = key;
        _slots[key] = slot;
    }

    /// <summary>The keys kept, heaviest first, and an empty sketch.</summary>
    public KeyWeight[] TakeAll()
    {
        var all = new KeyWeight[_count];
        for (var i = 0; i < _count; i++)
            all[i] = new KeyWeight(_keys[i], _weights[i]);
        Array.Sort(all, (a, b) => b.Bytes.CompareTo(a.Bytes));
        _slots.Clear();
        Array.Clear(_keys);
        _count = 0;
        return all;
    }
}
