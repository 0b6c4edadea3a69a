using System.Security.Cryptography;
using Runnel.Core.Storage;

namespace Runnel.ShardStore.Engine;

/// <summary>Opens the sealed records of one read with the key versions at hand; one cipher per version, disposed with the read.</summary>
internal sealed class RecordOpener(ShardRef shard, IReadOnlyDictionary<int, StreamDataKey> keys) : IDisposable
{
    private readonly Dictionary<int, AesGcm> _ciphers = [];

    public (string PartitionKey, byte[] Data) Open(ReadOnlySpan<byte> frame, int size, ulong ordinal, long arrivalUnixMs)
    {
        var version = LogFormat.SealedKeyVersion(frame);
        if (!_ciphers.TryGetValue(version, out var cipher))
        {
            if (!keys.TryGetValue(version, out var key))
                throw new KeyNeededException(version);
            cipher = key.CipherFor(shard.ShardIndex);
            _ciphers[version] = cipher;
        }
        return LogFormat.OpenSealedFrame(frame, size, cipher, shard, ordinal, arrivalUnixMs);
    }

    public void Dispose()
    {
        foreach (var cipher in _ciphers.Values)
            cipher.Dispose();
    }

    /// <summary>The read met a key version it was not given: fetch it and read again.</summary>
    public sealed class KeyNeededException(int version) : Exception($"Data key version {version} is needed.")
    {
        public int Version { get; } = version;
    }
}
