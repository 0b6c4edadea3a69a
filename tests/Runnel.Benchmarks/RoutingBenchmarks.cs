using System.Globalization;
using BenchmarkDotNet.Attributes;
using Runnel.Core.Hashing;
using Runnel.Ingest.Streams;

namespace Runnel.Benchmarks;

/// <summary>Partition key to shard: MD5 of the key, then a binary search over the open shards' hash-key ranges.</summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private StreamRoute _fourShards = null!;
    private StreamRoute _thousandShards = null!;
    private string[] _keys = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _fourShards = Route(4);
        _thousandShards = Route(1000);
        var random = new Random(7);
        // 16 hex characters, like the load benchmark's keys; 1,024 of them so the branch predictor cannot learn one path.
        _keys = [.. Enumerable.Range(0, 1024).Select(_ => random.NextInt64().ToString("x16", CultureInfo.InvariantCulture))];
    }

    private static StreamRoute Route(int shards) => new(
        1, "bench", "ACTIVE", 1024 * 1024,
        HashKeyRange.EvenSplit(shards).Select((range, i) => new ShardRoute(i, range, null, null, "node-1", 1, true)),
        Environment.TickCount64);

    private string NextKey() => _keys[_next++ & 1023];

    [Benchmark]
    public UInt128 HashPartitionKey() => HashKeys.FromPartitionKey(NextKey());

    [Benchmark]
    public int RouteRecordFourShards() => _fourShards.Route(HashKeys.FromPartitionKey(NextKey()))!.Index;

    [Benchmark]
    public int RouteRecordThousandShards() => _thousandShards.Route(HashKeys.FromPartitionKey(NextKey()))!.Index;
}
