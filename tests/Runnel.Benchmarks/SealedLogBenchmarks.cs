using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Runnel.ShardStore.Engine;

namespace Runnel.Benchmarks;

/// <summary>
/// The cost of encryption at rest: a 125-record append (a PutRecords of 500 over 4 shards) and a 100-record read, with
/// the stream in the clear and sealed (AES-256-GCM), in the same run, on the relaxed-commit store of
/// <see cref="ShardLogBenchmarkBase"/>.
/// </summary>
[MemoryDiagnoser]
[WarmupCount(3)]
[IterationCount(10)]
[IterationTime(250)]
public class SealedLogBenchmarks : ShardLogBenchmarkBase
{
    [Params(false, true)]
    public bool Sealed { get; set; }

    protected override IStreamKeyring? Keyring => new FixedKeyring(Sealed);

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
}
