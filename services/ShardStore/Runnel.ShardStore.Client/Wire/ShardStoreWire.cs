using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Runnel.Core.Storage;

namespace Runnel.ShardStore.Client.Wire;

/// <summary>
/// The binary protocol between ShardStore clients and nodes (application/octet-stream, little-endian). Routes are
/// relative (<c>internal/shards/{streamId}/{shardIndex}/{operation}</c>) so they work under a Dapr invoke prefix.
///
/// Bodies:
///   append request   u8 version, i32 count, per record: u16 key bytes, key (UTF-8), i32 data bytes, data
///   append response  u64 first ordinal, i32 count, i64 arrival unix ms
///   read response    u8 version, u64 next ordinal, u8 end of shard, i64 millis behind, i32 count,
///                    per record: u64 ordinal, i64 arrival unix ms, u16 key bytes, key, i32 data bytes, data
///   state            i64 epoch, u64 trim, u64 next, u8 sealed flag, u64 sealed-at, i64 last arrival
///   open / settings  i64 retention ms
///   find             u64 ordinal
///   tail (streamed)  frames of u64 next ordinal + u8 flags (1 sealed, 2 heartbeat: no change, sent every
///                    <see cref="TailHeartbeat"/> so a reader detects a silently dead connection)
/// Errors carry <see cref="ErrorHeader"/> and a UTF-8 message body.
/// </summary>
public static class ShardStoreWire
{
    public const string ContentType = "application/octet-stream";
    public const string ErrorHeader = "X-Runnel-Error";
    public const string RoutePrefix = "internal/shards";
    public const byte Version = 1;

    public const int AppendResultSize = 20;
    public const int StateSize = 41;
    public const int SettingsSize = 8;
    public const int TailFrameSize = 9;
    public const byte TailSealed = 1;
    public const byte TailHeartbeat = 2;

    /// <summary>Idle interval after which a tail stream repeats itself; a reader gives up after three missed beats.</summary>
    public static readonly TimeSpan TailHeartbeatInterval = TimeSpan.FromSeconds(10);

    public static void WriteTailFrame(Span<byte> dst, TailPosition position, bool heartbeat)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(dst, position.NextOrdinal);
        dst[8] = (byte)((position.Sealed ? TailSealed : 0) | (heartbeat ? TailHeartbeat : 0));
    }

    public static (TailPosition Position, bool Heartbeat) ReadTailFrame(ReadOnlySpan<byte> src) =>
        (new TailPosition(BinaryPrimitives.ReadUInt64LittleEndian(src), (src[8] & TailSealed) != 0), (src[8] & TailHeartbeat) != 0);
    private const int ReadHeaderSize = 22;
    private const int ReadRecordOverhead = 22;

    /// <summary>
    /// Set in a read record's key-length word when the record was stored sealed. A partition key is at most 256
    /// UTF-16 characters, 768 UTF-8 bytes at most, so the length never reaches this bit.
    /// </summary>
    private const int EncryptedFlag = 0x8000;

    /// <summary>Values of <see cref="ErrorHeader"/>, each mapped to one exception of the storage contract.</summary>
    public static class Errors
    {
        public const string NotOwned = "ShardNotOwned";   // 409
        public const string NotFound = "ShardNotFound";   // 404
        public const string Sealed = "ShardSealed";       // 410
        public const string Invalid = "InvalidRequest";   // 400
        public const string Corrupted = "LogCorrupted";   // 500
        public const string Failed = "StoreFailed";       // 503
    }

    public static string ShardPath(ShardRef shard, string operation) =>
        string.Create(CultureInfo.InvariantCulture, $"{RoutePrefix}/{shard.StreamId}/{shard.ShardIndex}/{operation}");

    public static int AppendRequestSize(IReadOnlyList<AppendRecord> records)
    {
        var size = 5;
        foreach (var r in records)
            size += 6 + Encoding.UTF8.GetByteCount(r.PartitionKey) + r.Data.Length;
        return size;
    }

    public static void WriteAppendRequest(Span<byte> dst, IReadOnlyList<AppendRecord> records)
    {
        dst[0] = Version;
        BinaryPrimitives.WriteInt32LittleEndian(dst[1..], records.Count);
        var offset = 5;
        foreach (var r in records)
        {
            var keyBytes = Encoding.UTF8.GetBytes(r.PartitionKey, dst[(offset + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(dst[offset..], checked((ushort)keyBytes));
            offset += 2 + keyBytes;
            BinaryPrimitives.WriteInt32LittleEndian(dst[offset..], r.Data.Length);
            r.Data.Span.CopyTo(dst[(offset + 4)..]);
            offset += 4 + r.Data.Length;
        }
    }

    /// <summary>Parses an append body; record data are slices of <paramref name="body"/> (no copy).</summary>
    public static AppendRecord[] ReadAppendRequest(ReadOnlyMemory<byte> body)
    {
        var span = body.Span;
        if (span.Length < 5 || span[0] != Version)
            throw new FormatException("Unsupported append request.");
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[1..]);
        // Every record needs at least 6 bytes, which bounds the count by the body before allocating.
        if (count < 0 || count > (span.Length - 5) / 6)
            throw new FormatException("Invalid record count.");
        var records = new AppendRecord[count];
        var offset = 5;
        for (var i = 0; i < count; i++)
        {
            var keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(Need(span, offset, 2));
            var key = Encoding.UTF8.GetString(Need(span, offset + 2, keyBytes));
            offset += 2 + keyBytes;
            var dataBytes = BinaryPrimitives.ReadInt32LittleEndian(Need(span, offset, 4));
            if (dataBytes < 0)
                throw new FormatException("Invalid data length.");
            Need(span, offset + 4, dataBytes);
            records[i] = new AppendRecord(key, body.Slice(offset + 4, dataBytes));
            offset += 4 + dataBytes;
        }
        if (offset != span.Length)
            throw new FormatException("Trailing bytes after the last record.");
        return records;
    }

    public static void WriteAppendResult(Span<byte> dst, AppendResult result)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(dst, result.FirstOrdinal);
        BinaryPrimitives.WriteInt32LittleEndian(dst[8..], result.Count);
        BinaryPrimitives.WriteInt64LittleEndian(dst[12..], result.ArrivalUnixMs);
    }

    public static AppendResult ReadAppendResult(ReadOnlySpan<byte> src) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(Need(src, 0, AppendResultSize)),
            BinaryPrimitives.ReadInt32LittleEndian(src[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(src[12..]));

    public static int ReadResultSize(ReadResult result)
    {
        var size = ReadHeaderSize;
        foreach (var r in result.Records)
            size += ReadRecordOverhead + Encoding.UTF8.GetByteCount(r.PartitionKey) + r.Data.Length;
        return size;
    }

    /// <summary>Writes a read response straight into the response pipe, in pieces, so a 10 MiB answer is never copied into one buffer first.</summary>
    public static void WriteReadResult(IBufferWriter<byte> writer, ReadResult result)
    {
        var header = writer.GetSpan(ReadHeaderSize);
        header[0] = Version;
        BinaryPrimitives.WriteUInt64LittleEndian(header[1..], result.NextOrdinal);
        header[9] = result.EndOfShard ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt64LittleEndian(header[10..], result.MillisBehindLatest);
        BinaryPrimitives.WriteInt32LittleEndian(header[18..], result.Records.Count);
        writer.Advance(ReadHeaderSize);
        foreach (var r in result.Records)
        {
            var keyBytes = Encoding.UTF8.GetByteCount(r.PartitionKey);
            var span = writer.GetSpan(ReadRecordOverhead + keyBytes);
            BinaryPrimitives.WriteUInt64LittleEndian(span, r.Ordinal);
            BinaryPrimitives.WriteInt64LittleEndian(span[8..], r.ArrivalUnixMs);
            BinaryPrimitives.WriteUInt16LittleEndian(span[16..], (ushort)(keyBytes | (r.Encrypted ? EncryptedFlag : 0)));
            Encoding.UTF8.GetBytes(r.PartitionKey, span[18..]);
            BinaryPrimitives.WriteInt32LittleEndian(span[(18 + keyBytes)..], r.Data.Length);
            writer.Advance(ReadRecordOverhead + keyBytes);
            writer.Write(r.Data.Span);
        }
    }

    /// <summary>Parses a read response; record data are slices of <paramref name="body"/> (no copy).</summary>
    public static ReadResult ReadReadResult(ReadOnlyMemory<byte> body)
    {
        var span = body.Span;
        if (span.Length < ReadHeaderSize || span[0] != Version)
            throw new FormatException("Unsupported read response.");
        var next = BinaryPrimitives.ReadUInt64LittleEndian(span[1..]);
        var end = span[9] != 0;
        var behind = BinaryPrimitives.ReadInt64LittleEndian(span[10..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[18..]);
        if (count < 0 || count > (span.Length - ReadHeaderSize) / ReadRecordOverhead)
            throw new FormatException("Invalid record count.");
        var records = new StoredRecord[count];
        var offset = ReadHeaderSize;
        for (var i = 0; i < count; i++)
        {
            var fixedPart = Need(span, offset, 18);
            var ordinal = BinaryPrimitives.ReadUInt64LittleEndian(fixedPart);
            var arrival = BinaryPrimitives.ReadInt64LittleEndian(fixedPart[8..]);
            var keyWord = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[16..]);
            var keyBytes = keyWord & ~EncryptedFlag;
            var key = Encoding.UTF8.GetString(Need(span, offset + 18, keyBytes));
            offset += 18 + keyBytes;
            var dataBytes = BinaryPrimitives.ReadInt32LittleEndian(Need(span, offset, 4));
            if (dataBytes < 0)
                throw new FormatException("Invalid data length.");
            Need(span, offset + 4, dataBytes);
            records[i] = new StoredRecord(ordinal, arrival, key, body.Slice(offset + 4, dataBytes), (keyWord & EncryptedFlag) != 0);
            offset += 4 + dataBytes;
        }
        return new ReadResult(records, next, end, behind);
    }

    public static void WriteState(Span<byte> dst, ShardState state)
    {
        dst[..StateSize].Clear();
        BinaryPrimitives.WriteInt64LittleEndian(dst, state.Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], state.TrimOrdinal);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], state.NextOrdinal);
        dst[24] = state.SealedAtOrdinal.HasValue ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt64LittleEndian(dst[25..], state.SealedAtOrdinal ?? 0);
        BinaryPrimitives.WriteInt64LittleEndian(dst[33..], state.LastArrivalUnixMs);
    }

    public static ShardState ReadState(ShardRef shard, ReadOnlySpan<byte> src)
    {
        Need(src, 0, StateSize);
        return new ShardState(shard,
            BinaryPrimitives.ReadInt64LittleEndian(src),
            BinaryPrimitives.ReadUInt64LittleEndian(src[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(src[16..]),
            src[24] != 0 ? BinaryPrimitives.ReadUInt64LittleEndian(src[25..]) : null,
            BinaryPrimitives.ReadInt64LittleEndian(src[33..]));
    }

    public static byte[] WriteSettings(ShardSettings settings)
    {
        var bytes = new byte[SettingsSize];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, (long)settings.Retention.TotalMilliseconds);
        return bytes;
    }

    public static ShardSettings ReadSettings(ReadOnlySpan<byte> src) =>
        new(TimeSpan.FromMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(Need(src, 0, SettingsSize))));

    private static ReadOnlySpan<byte> Need(ReadOnlySpan<byte> span, int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > span.Length - length)
            throw new FormatException("Message is truncated.");
        return span.Slice(offset, length);
    }
}
