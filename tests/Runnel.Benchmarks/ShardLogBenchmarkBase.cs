using BenchmarkDotNet.Attributes;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine;

namespace Runnel.Benchmarks;

/// <summary>
/// A shard log store with relaxed commits (written to the page cache, fsynced every 200 ms) so that the figures are the
/// engine's CPU and allocation cost, not the disk's fsync latency, which the load benchmark measures end to end. The
/// appended shard keeps 2 s of data and small segments, so a long run does not fill the disk; the prefilled shard holds
/// 20,000 records of 1 KiB for reads.
/// </summary>
public abstract class ShardLogBenchmarkBase
{
    protected const int RecordBytes = 1024;
    private const int PrefilledRecords = 20_000;
    protected static readonly ShardRef Appended = new(1, 0);
    private static readonly ShardRef Prefilled = new(2, 0);

    private string _directory = null!;
    private ulong _readFrom;

    protected ShardLogStore Store { get; private set; } = null!;

    protected byte[] Data { get; private set; } = null!;

    /// <summary>A PutRecords of 500 records over 4 shards hands each shard about 125.</summary>
    protected AppendRecord[] Batch { get; private set; } = null!;

    protected virtual IStreamKeyring? Keyring => null;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "runnel-bench-" + Guid.NewGuid().ToString("N"));
        Store = new ShardLogStore(new ShardLogStoreOptions
        {
            DataDirectory = _directory,
            CommitPolicy = CommitPolicy.Relaxed,
            SegmentSizeBytes = 16L * 1024 * 1024,
            RetentionCheckInterval = TimeSpan.FromSeconds(1),
            Keyring = Keyring,
        });
        Data = new byte[RecordBytes];
        new Random(3).NextBytes(Data);
        Batch = [.. Enumerable.Range(0, 125).Select(i => new AppendRecord($"key-{i:x12}", Data))];
        await Store.OpenShardAsync(Appended, 1, new ShardSettings(TimeSpan.FromSeconds(2)), CancellationToken.None);
        await Store.OpenShardAsync(Prefilled, 1, new ShardSettings(TimeSpan.FromDays(1)), CancellationToken.None);
        for (var i = 0; i < PrefilledRecords / Batch.Length; i++)
            await Store.AppendAsync(Prefilled, 1, Batch, CancellationToken.None);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await Store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark]
    public Task<AppendResult> AppendBatchOf125() => Store.AppendAsync(Appended, 1, Batch, CancellationToken.None);

    /// <summary>100 records from a position that moves through the shard, so reads do not always hit the same block.</summary>
    [Benchmark]
    public Task<ReadResult> ReadHundred()
    {
        var from = _readFrom;
        _readFrom = (_readFrom + 100) % (PrefilledRecords - 100);
        return Store.ReadAsync(Prefilled, new ReadRequest(from, 100, 10 * 1024 * 1024), CancellationToken.None);
    }
}
