using System.Buffers.Binary;
using System.Security.Cryptography;
using Runnel.Core.Errors;

namespace Runnel.Core.Streams;

/// <summary>What a shard iterator points at: the next ordinal of one shard of one stream incarnation.</summary>
public readonly record struct IteratorPosition(long StreamId, int ShardIndex, ulong NextOrdinal, long IssuedAtUnixMs);

/// <summary>
/// Self-describing shard iterators: any node holding the shared key can validate one without state.
/// Token = base64url(version:1 | streamId:8 | shardIndex:4 | nextOrdinal:8 | issuedAtMs:8 | mac:16),
/// 60 characters, well under Kinesis's 512. The MAC is HMAC-SHA256 truncated to 128 bits.
/// </summary>
public sealed class ShardIteratorCodec
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);
    private const byte Version = 1;
    private const int PayloadLength = 1 + 8 + 4 + 8 + 8;
    private const int MacLength = 16;
    private const int TokenLength = PayloadLength + MacLength;

    private readonly byte[] _key;
    private readonly TimeProvider _time;

    public ShardIteratorCodec(ReadOnlySpan<byte> key, TimeProvider time)
    {
        if (key.Length < 16)
            throw new ArgumentException("The iterator signing key must be at least 16 bytes.", nameof(key));
        _key = key.ToArray();
        _time = time;
    }

    public string Encode(long streamId, int shardIndex, ulong nextOrdinal)
    {
        Span<byte> buffer = stackalloc byte[TokenLength];
        buffer[0] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(buffer[1..], streamId);
        BinaryPrimitives.WriteInt32LittleEndian(buffer[9..], shardIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[13..], nextOrdinal);
        BinaryPrimitives.WriteInt64LittleEndian(buffer[21..], _time.GetUtcNow().ToUnixTimeMilliseconds());
        Sign(buffer[..PayloadLength], buffer[PayloadLength..]);
        return ToBase64Url(buffer);
    }

    /// <summary>Base64url without padding, written straight into the one string it returns.</summary>
    private static string ToBase64Url(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[(bytes.Length + 2) / 3 * 4];
        Convert.TryToBase64Chars(bytes, chars, out var written);
        while (written > 0 && chars[written - 1] == '=')
            written--;
        for (var i = 0; i < written; i++)
            chars[i] = chars[i] switch { '+' => '-', '/' => '_', var c => c };
        return new string(chars[..written]);
    }

    /// <summary>
    /// Validates a token. A token that does not parse or was not signed with this key is
    /// InvalidArgumentException; a genuine one older than five minutes is ExpiredIteratorException.
    /// </summary>
    public IteratorPosition Decode(string? token)
    {
        Span<byte> buffer = stackalloc byte[TokenLength + 3];
        if (string.IsNullOrEmpty(token) || token.Length > 512 || !TryDecodeBase64Url(token, buffer, out var written)
            || written != TokenLength || buffer[0] != Version)
            throw KinesisException.InvalidArgument("Invalid ShardIterator.");
        Span<byte> mac = stackalloc byte[MacLength];
        Sign(buffer[..PayloadLength], mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, buffer.Slice(PayloadLength, MacLength)))
            throw KinesisException.InvalidArgument("Invalid ShardIterator.");
        var position = new IteratorPosition(
            BinaryPrimitives.ReadInt64LittleEndian(buffer[1..]),
            BinaryPrimitives.ReadInt32LittleEndian(buffer[9..]),
            BinaryPrimitives.ReadUInt64LittleEndian(buffer[13..]),
            BinaryPrimitives.ReadInt64LittleEndian(buffer[21..]));
        var age = _time.GetUtcNow().ToUnixTimeMilliseconds() - position.IssuedAtUnixMs;
        if (age > (long)Lifetime.TotalMilliseconds)
        {
            var issued = DateTimeOffset.FromUnixTimeMilliseconds(position.IssuedAtUnixMs).UtcDateTime;
            throw KinesisException.ExpiredIterator($"Iterator expired. The iterator was created at time {issued:ddd MMM dd HH:mm:ss 'UTC' yyyy} while right now it is {_time.GetUtcNow().UtcDateTime:ddd MMM dd HH:mm:ss 'UTC' yyyy} which is further in the future than the tolerated delay of 300000 milliseconds.");
        }
        return position;
    }

    private void Sign(ReadOnlySpan<byte> payload, Span<byte> mac)
    {
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(_key, payload, full);
        full[..MacLength].CopyTo(mac);
    }

    /// <summary>Base64url without padding to bytes, on the stack (the caller caps the token at 512 characters).</summary>
    private static bool TryDecodeBase64Url(string token, Span<byte> destination, out int written)
    {
        written = 0;
        if (token.Length % 4 == 1)
            return false;
        Span<char> chars = stackalloc char[token.Length + 2];
        for (var i = 0; i < token.Length; i++)
            chars[i] = token[i] switch { '-' => '+', '_' => '/', var c => c };
        var length = token.Length;
        while (length % 4 != 0)
            chars[length++] = '=';
        return Convert.TryFromBase64Chars(chars[..length], destination, out written);
    }
}
