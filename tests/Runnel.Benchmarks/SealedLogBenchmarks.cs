using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine;

namespace Runnel.Benchmarks;

/// <summary>
/// The cost of encryption at rest: a 125-record append (a PutRecords of 500 over 4 shards) and a 100-record read, with
/// the stream in the clear and sealed (AES-256-GCM), in the same run. Relaxed commits, as in <see cref="LogBenchmarks"/>,
/// so the figures are CPU and allocations, not fsync latency.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
[IterationTime(250)]
public class SealedLogBenchmarks
{
    private const int RecordBytes = 1024;
    private const int PrefilledRecords = 20_000;
    private static readonly ShardRef Appended = new(1, 0);
    private static readonly ShardRef Prefilled = new(2, 0);

    private string _directory = null!;
    private ShardLogStore _store = null!;
    private AppendRecord[] _batch = null!;
    private ulong _readFrom;

    [Params(false, true)]
    public bool Sealed { get; set; }

    /// <summary>One key version for every stream, or none.</summary>
    private sealed class FixedKeyring(bool sealRecords) : IStreamKeyring
    {
        private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
        private readonly Dictionary<long, StreamDataKey> _keys = [];

        private StreamDataKey KeyOf(long streamId)
        {
            lock (_keys)
            {
                if (!_keys.TryGetValue(streamId, out var key))
                    _keys[streamId] = key = new StreamDataKey(streamId, 1, _key);
                return key;
            }
        }

        public ValueTask<StreamDataKey?> CurrentAsync(long streamId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(sealRecords ? KeyOf(streamId) : null);

        public ValueTask<StreamDataKey> GetAsync(long streamId, int version, CancellationToken cancellationToken) => ValueTask.FromResult(KeyOf(streamId));
    }

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
            Keyring = new FixedKeyring(Sealed),
        });
        var data = new byte[RecordBytes];
        new Random(3).NextBytes(data);
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
    public Task<AppendResult> AppendBatchOf125() => _store.AppendAsync(Appended, 1, _batch, CancellationToken.None);

    [Benchmark]
    public Task<ReadResult> ReadHundred()
    {
        var from = _readFrom;
        _readFrom = (_readFrom + 100) % (PrefilledRecords - 100);
        return _store.ReadAsync(Prefilled, new ReadRequest(from, 100, 10 * 1024 * 1024), CancellationToken.None);
    }
}
