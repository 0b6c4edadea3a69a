using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// One version of a stream's data key (256 bits). Records are sealed with a key derived per shard
/// (HKDF-SHA256 over the data key with the stream id, shard index and version), so the random 96-bit nonces of
/// different shards never share a key, and a shard key seals at most one shard's records: NIST SP 800-38D's bound for
/// random nonces (2^32 messages per key) is then 2^32 records per shard and key version.
/// </summary>
public sealed class StreamDataKey
{
    private static readonly byte[] Purpose = "runnel shard record key v1"u8.ToArray();
    private readonly byte[] _key;
    private readonly ConcurrentDictionary<int, byte[]> _shardKeys = new();

    public StreamDataKey(long streamId, int version, byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != 32)
            throw new ArgumentException("A data key has 32 bytes.", nameof(key));
        StreamId = streamId;
        Version = version;
        _key = key;
    }

    public long StreamId { get; }

    public int Version { get; }

    /// <summary>A cipher for one shard's records; not thread-safe, so each caller takes its own and disposes it.</summary>
    public AesGcm CipherFor(int shardIndex) => new(_shardKeys.GetOrAdd(shardIndex, DeriveShardKey), LogFormat.TagSize);

    private byte[] DeriveShardKey(int shardIndex)
    {
        var info = new byte[Purpose.Length + 16];
        Purpose.CopyTo(info, 0);
        BinaryPrimitives.WriteInt64LittleEndian(info.AsSpan(Purpose.Length), StreamId);
        BinaryPrimitives.WriteInt32LittleEndian(info.AsSpan(Purpose.Length + 8), shardIndex);
        BinaryPrimitives.WriteInt32LittleEndian(info.AsSpan(Purpose.Length + 12), Version);
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, 32, salt: [], info);
    }
}

/// <summary>
/// Where the store finds data keys. Appends to a stream whose <see cref="CurrentAsync"/> is a key are sealed with it;
/// a sealed record is opened with the version it names, so records written before a key change stay readable.
/// </summary>
public interface IStreamKeyring
{
    /// <summary>The key new records of the stream are sealed with, or null to write them in the clear. Called per append: cache it.</summary>
    ValueTask<StreamDataKey?> CurrentAsync(long streamId, CancellationToken cancellationToken);

    /// <summary>A key version that sealed records name; throws <see cref="DataKeyUnavailableException"/> when the key store cannot give it.</summary>
    ValueTask<StreamDataKey> GetAsync(long streamId, int version, CancellationToken cancellationToken);
}

/// <summary>A sealed record cannot be opened: its data key is not in the key store or does not unwrap under the master key.</summary>
public sealed class DataKeyUnavailableException(string message) : IOException(message);
