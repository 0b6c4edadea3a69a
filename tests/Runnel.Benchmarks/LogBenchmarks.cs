using BenchmarkDotNet.Attributes;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine;

namespace Runnel.Benchmarks;

/// <summary>
/// The shard log: appends through the group-commit writer and reads of committed records. Appends use the relaxed
/// commit policy (written to the page cache, fsynced every 200 ms) so that the figures are the engine's CPU and
/// allocation cost, not the disk's fsync latency, which the load benchmark measures end to end. The appended shard
/// keeps 2 s of data and small segments, so a long run does not fill the disk.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
[IterationTime(250)]
public class LogBenchmarks
{
    private const int RecordBytes = 1024;
    private const int Concurrency = 8;
    private static readonly ShardRef Appended = new(1, 0);
    private static readonly ShardRef Prefilled = new(2, 0);
    private const int PrefilledRecords = 20_000;

    private string _directory = null!;
    private ShardLogStore _store = null!;
    private AppendRecord[] _one = null!;
    private AppendRecord[] _batch = null!;
    private readonly Task<AppendResult>[] _concurrent = new Task<AppendResult>[Concurrency];
    private ulong _readFrom;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "runnel-bench-" + Guid.NewGuid().ToString("N"));
        _store = new ShardLogStore(new ShardLogStoreOptions
        {
            DataDirectory = _directory,
            CommitPolicy = CommitPolicy.Relaxed,
            SegmentSizeBytes = 16L * 1024 * 1024,
            RetentionCheckInterval = TimeSpan.FromSeconds(1),
        });
        var data = new byte[RecordBytes];
        new Random(3).NextBytes(data);
        _one = [new AppendRecord("0123456789abcdef", data)];
        // A PutRecords of 500 records over 4 shards hands each shard about 125.
        _batch = [.. Enumerable.Range(0, 125).Select(i => new AppendRecord($"key-{i:x12}", data))];
        await _store.OpenShardAsync(Appended, 1, new ShardSettings(TimeSpan.FromSeconds(2)), CancellationToken.None);
        await _store.OpenShardAsync(Prefilled, 1, new ShardSettings(TimeSpan.FromDays(1)), CancellationToken.None);
        for (var i = 0; i < PrefilledRecords / _batch.Length; i++)
            await _store.AppendAsync(Prefilled, 1, _batch, CancellationToken.None);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark]
    public Task<AppendResult> AppendOne() => _store.AppendAsync(Appended, 1, _one, CancellationToken.None);

    /// <summary>Eight single-record appends in flight at once, as eight PutRecord clients produce: one group commit serves several.</summary>
    [Benchmark(OperationsPerInvoke = Concurrency)]
    public Task AppendOneEightConcurrent()
    {
        for (var i = 0; i < Concurrency; i++)
            _concurrent[i] = _store.AppendAsync(Appended, 1, _one, CancellationToken.None);
        return Task.WhenAll(_concurrent);
    }

    [Benchmark]
    public Task<AppendResult> AppendBatchOf125() => _store.AppendAsync(Appended, 1, _batch, CancellationToken.None);

    /// <summary>100 records from a position that moves through the shard, so reads do not always hit the same block.</summary>
    [Benchmark]
    public Task<ReadResult> ReadHundred()
    {
        var from = _readFrom;
        _readFrom = (_readFrom + 100) % (PrefilledRecords - 100);
        return _store.ReadAsync(Prefilled, new ReadRequest(from, 100, 10 * 1024 * 1024), CancellationToken.None);
    }
}
