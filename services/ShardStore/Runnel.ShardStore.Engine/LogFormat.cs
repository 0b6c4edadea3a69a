using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Security.Cryptography;
using Runnel.Core.Storage;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// Every on-disk constant of the shard log in one place. All integers are little-endian. Readers accept
/// a file when its min-compatible version is at most <see cref="FormatVersion"/>; writers always write
/// <see cref="FormatVersion"/>, so an older reader refuses a file it cannot understand instead of misreading it.
/// </summary>
internal static class LogFormat
{
    // Version 2 added sealed frames (encryption at rest); a version 1 reader must not take them for corruption.
    public const ushort FormatVersion = 2;
    public const ushort MinCompatibleVersion = 2;

    // Segment header (64 bytes):
    //   0  u32 magic "RNSG"      4  u16 format version   6  u16 min-compatible version
    //   8  u32 segment index    12  u32 reserved (0)     16 u64 base ordinal
    //  24  i64 created unix ms  32  i64 stream id        40 i32 shard index
    //  44  16 reserved bytes (0)                          60 u32 CRC32 of bytes 0..59
    public const uint SegmentMagic = 0x47534E52; // "RNSG"
    public const int SegmentHeaderSize = 64;

    // Record frame: u32 body length, u32 CRC32 of the body, then the body:
    //   u64 ordinal, i64 arrival unix ms, u16 partition key byte length, key (UTF-8), data.
    // The length prefix is outside the CRC, so a torn length is caught by the bounds check and a torn
    // body by the CRC; a frame is visible only if both hold.
    public const int FramePrefixSize = 8;
    public const int BodyFixedSize = 18;
    public const int FrameOverhead = FramePrefixSize + BodyFixedSize;

    // Sealed frame (format 2): bit 31 of the length word is set, and the body is
    //   u64 ordinal, i64 arrival unix ms, u16 0, u32 data key version, 12-byte nonce,
    //   AES-256-GCM ciphertext of (u16 partition key byte length, key, data), 16-byte tag.
    // The CRC covers the sealed body as for a plain frame, so recovery checks frames without any key.
    public const uint SealedFlag = 0x8000_0000;
    public const int SealHeaderSize = 4 + NonceSize;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int SealedFrameOverhead = FrameOverhead + SealHeaderSize + 2 + TagSize;

    /// <summary>Largest body a valid frame can have: a 10 MiB record (the highest configurable limit) plus a 256-character key of up to 4 UTF-8 bytes each, sealed.</summary>
    public const int MaxBodySize = (10 * 1024 * 1024) + 1024 + BodyFixedSize + SealHeaderSize + 2 + TagSize;

    // Sparse index file (.idx), written once a segment is complete; rebuilt by scanning when missing or invalid:
    //   0  u32 magic "RNIX"  4 u16 format version  6 u16 min-compatible version  8 i32 entry count
    //  12  u32 reserved (0) 16 i64 segment length 24 u64 base ordinal  32 u64 next ordinal
    //  40  i64 first arrival 48 i64 last arrival   56 then entries of 24 bytes (u64 ordinal, i64 arrival, i64 position)
    //  end u32 CRC32 of everything before it
    public const uint IndexMagic = 0x58494E52; // "RNIX"
    public const int IndexHeaderSize = 56;
    public const int IndexEntrySize = 24;

    // Checkpoint file (32 bytes): u32 magic "RNCP", u32 segment index, i64 flushed position in that segment,
    // u64 flushed next ordinal, i32 reserved (0), u32 CRC32 of bytes 0..27.
    public const uint CheckpointMagic = 0x50434E52; // "RNCP"
    public const int CheckpointSize = 32;

    // Shard metadata file (56 bytes): 0 u32 magic "RNMD", 4 u16 version, 6 u16 min-compatible, 8 i64 epoch,
    // 16 u64 sealed-at ordinal (valid if the flag is set), 24 u8 sealed flag, 25 7 reserved, 32 i64 retention ms,
    // 40 i64 created unix ms, 48 u32 reserved, 52 u32 CRC32 of bytes 0..51.
    public const uint MetadataMagic = 0x444D4E52; // "RNMD"
    public const int MetadataSize = 56;

    public const string MetadataFileName = "shard.meta";
    public const string CheckpointFileName = "shard.chk";
    public const string SegmentPrefix = "seg-";
    public const string SegmentExtension = ".log";
    public const string IndexExtension = ".idx";

    /// <summary>Segment files are named by index and version (<c>seg-00000012.000000.log</c>); a rewrite (compaction, tiering) produces a new version.</summary>
    public static string SegmentFileName(int index, int version = 0) =>
        string.Create(CultureInfo.InvariantCulture, $"{SegmentPrefix}{index:D8}.{version:D6}{SegmentExtension}");

    public static string IndexFileName(int index, int version = 0) =>
        string.Create(CultureInfo.InvariantCulture, $"{SegmentPrefix}{index:D8}.{version:D6}{IndexExtension}");

    public static bool TryParseSegmentFileName(string fileName, out int index, out int version)
    {
        index = version = 0;
        // seg- + 8 digits + . + 6 digits + .log
        if (fileName.Length != SegmentPrefix.Length + 8 + 1 + 6 + SegmentExtension.Length
            || !fileName.StartsWith(SegmentPrefix, StringComparison.Ordinal)
            || !fileName.EndsWith(SegmentExtension, StringComparison.Ordinal)
            || fileName[SegmentPrefix.Length + 8] != '.')
            return false;
        return int.TryParse(fileName.AsSpan(SegmentPrefix.Length, 8), NumberStyles.None, CultureInfo.InvariantCulture, out index)
            && int.TryParse(fileName.AsSpan(SegmentPrefix.Length + 9, 6), NumberStyles.None, CultureInfo.InvariantCulture, out version);
    }

    public static void WriteSegmentHeader(Span<byte> dst, int segmentIndex, ulong baseOrdinal, long createdUnixMs, long streamId, int shardIndex)
    {
        dst[..SegmentHeaderSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(dst, SegmentMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[4..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(dst[6..], MinCompatibleVersion);
        BinaryPrimitives.WriteInt32LittleEndian(dst[8..], segmentIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], baseOrdinal);
        BinaryPrimitives.WriteInt64LittleEndian(dst[24..], createdUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(dst[32..], streamId);
        BinaryPrimitives.WriteInt32LittleEndian(dst[40..], shardIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[60..], Crc32.HashToUInt32(dst[..60]));
    }

    public static bool TryReadSegmentHeader(ReadOnlySpan<byte> src, out int segmentIndex, out ulong baseOrdinal, out long createdUnixMs)
    {
        segmentIndex = 0;
        baseOrdinal = 0;
        createdUnixMs = 0;
        if (src.Length < SegmentHeaderSize
            || BinaryPrimitives.ReadUInt32LittleEndian(src) != SegmentMagic
            || BinaryPrimitives.ReadUInt32LittleEndian(src[60..]) != Crc32.HashToUInt32(src[..60]))
            return false;
        if (BinaryPrimitives.ReadUInt16LittleEndian(src[6..]) > FormatVersion)
            throw new LogCorruptedException("Segment was written by a newer, incompatible format version.");
        segmentIndex = BinaryPrimitives.ReadInt32LittleEndian(src[8..]);
        baseOrdinal = BinaryPrimitives.ReadUInt64LittleEndian(src[16..]);
        createdUnixMs = BinaryPrimitives.ReadInt64LittleEndian(src[24..]);
        return true;
    }

    public static int FrameSize(int partitionKeyBytes, int dataBytes) => FrameOverhead + partitionKeyBytes + dataBytes;

    public static int SealedFrameSize(int partitionKeyBytes, int dataBytes) => SealedFrameOverhead + partitionKeyBytes + dataBytes;

    /// <summary>
    /// Writes one sealed frame; <paramref name="dst"/> must hold exactly <see cref="SealedFrameSize"/> bytes. The nonce is
    /// random: under one shard key (<see cref="StreamDataKey"/>) a repeat is less likely than 2^-32 for the first 2^32 records, and the associated
    /// data binds the ciphertext to its stream, shard, ordinal, arrival time and key version, so a frame copied to
    /// another place does not open.
    /// </summary>
    public static void WriteSealedFrame(Span<byte> dst, AesGcm aes, ShardRef shard, int keyVersion, ulong ordinal, long arrivalUnixMs,
        string partitionKey, int partitionKeyBytes, ReadOnlySpan<byte> data)
    {
        var body = dst[FramePrefixSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(dst, (uint)body.Length | SealedFlag);
        BinaryPrimitives.WriteUInt64LittleEndian(body, ordinal);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], arrivalUnixMs);
        BinaryPrimitives.WriteUInt16LittleEndian(body[16..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(body[BodyFixedSize..], keyVersion);
        var nonce = body.Slice(BodyFixedSize + 4, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        var plainLength = 2 + partitionKeyBytes + data.Length;
        var cipher = body.Slice(BodyFixedSize + SealHeaderSize, plainLength);
        var tag = body.Slice(BodyFixedSize + SealHeaderSize + plainLength, TagSize);
        // The plaintext is assembled in place and encrypted over itself (AES-GCM allows identical input and output).
        BinaryPrimitives.WriteUInt16LittleEndian(cipher, (ushort)partitionKeyBytes);
        System.Text.Encoding.UTF8.GetBytes(partitionKey, cipher.Slice(2, partitionKeyBytes));
        data.CopyTo(cipher[(2 + partitionKeyBytes)..]);
        Span<byte> aad = stackalloc byte[SealAadSize];
        WriteSealAad(aad, shard, keyVersion, ordinal, arrivalUnixMs);
        aes.Encrypt(nonce, cipher, cipher, tag, aad);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], Crc32.HashToUInt32(body));
    }

    public static bool IsSealed(ReadOnlySpan<byte> frame) => (BinaryPrimitives.ReadUInt32LittleEndian(frame) & SealedFlag) != 0;

    /// <summary>The data key version a sealed frame (starting at its length word) was written with.</summary>
    public static int SealedKeyVersion(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt32LittleEndian(frame[(FramePrefixSize + BodyFixedSize)..]);

    /// <summary>
    /// Opens a valid sealed frame of <paramref name="frameSize"/> bytes: returns the partition key and data, or throws
    /// <see cref="LogCorruptedException"/> when the tag does not verify (another key, or altered bytes).
    /// </summary>
    public static (string PartitionKey, byte[] Data) OpenSealedFrame(ReadOnlySpan<byte> frame, int frameSize, AesGcm aes, ShardRef shard, ulong ordinal, long arrivalUnixMs)
    {
        var body = frame[FramePrefixSize..frameSize];
        var keyVersion = BinaryPrimitives.ReadInt32LittleEndian(body[BodyFixedSize..]);
        var nonce = body.Slice(BodyFixedSize + 4, NonceSize);
        var plainLength = body.Length - BodyFixedSize - SealHeaderSize - TagSize;
        if (plainLength < 2)
            throw new LogCorruptedException($"Sealed record {ordinal} of shard {shard} is too short.");
        var plain = GC.AllocateUninitializedArray<byte>(plainLength);
        Span<byte> aad = stackalloc byte[SealAadSize];
        WriteSealAad(aad, shard, keyVersion, ordinal, arrivalUnixMs);
        try
        {
            aes.Decrypt(nonce, body.Slice(BodyFixedSize + SealHeaderSize, plainLength), body.Slice(BodyFixedSize + SealHeaderSize + plainLength, TagSize), plain, aad);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new LogCorruptedException(
                $"Sealed record {ordinal} of shard {shard} does not open with data key version {keyVersion}: the key store holds another key (a different master key?) or the bytes were altered.");
        }
        var keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(plain);
        if (keyBytes > plainLength - 2)
            throw new LogCorruptedException($"Sealed record {ordinal} of shard {shard} has an invalid partition key length.");
        return (System.Text.Encoding.UTF8.GetString(plain, 2, keyBytes), plain[(2 + keyBytes)..]);
    }

    private const int SealAadSize = 32;

    private static void WriteSealAad(Span<byte> aad, ShardRef shard, int keyVersion, ulong ordinal, long arrivalUnixMs)
    {
        BinaryPrimitives.WriteInt64LittleEndian(aad, shard.StreamId);
        BinaryPrimitives.WriteInt32LittleEndian(aad[8..], shard.ShardIndex);
        BinaryPrimitives.WriteInt32LittleEndian(aad[12..], keyVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(aad[16..], ordinal);
        BinaryPrimitives.WriteInt64LittleEndian(aad[24..], arrivalUnixMs);
    }

    /// <summary>Writes one frame; <paramref name="dst"/> must hold exactly <see cref="FrameSize"/> bytes.</summary>
    public static void WriteFrame(Span<byte> dst, ulong ordinal, long arrivalUnixMs, string partitionKey, int partitionKeyBytes, ReadOnlySpan<byte> data)
    {
        var body = dst[FramePrefixSize..];
        BinaryPrimitives.WriteUInt32LittleEndian(dst, (uint)body.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(body, ordinal);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], arrivalUnixMs);
        BinaryPrimitives.WriteUInt16LittleEndian(body[16..], (ushort)partitionKeyBytes);
        System.Text.Encoding.UTF8.GetBytes(partitionKey, body.Slice(BodyFixedSize, partitionKeyBytes));
        data.CopyTo(body[(BodyFixedSize + partitionKeyBytes)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], Crc32.HashToUInt32(body));
    }

    public enum FrameStatus
    {
        Valid,
        /// <summary>The buffer ends before the frame does: read more, or at end of file a torn tail.</summary>
        Incomplete,
        /// <summary>The length or CRC is wrong.</summary>
        Invalid,
    }

    /// <summary>Checks the frame at the start of <paramref name="src"/> and returns its full size when valid or incomplete.</summary>
    public static FrameStatus TryParseFrame(ReadOnlySpan<byte> src, out int frameSize, out ulong ordinal, out long arrivalUnixMs)
    {
        frameSize = 0;
        ordinal = 0;
        arrivalUnixMs = 0;
        if (src.Length < FramePrefixSize)
            return FrameStatus.Incomplete;
        var word = BinaryPrimitives.ReadUInt32LittleEndian(src);
        var bodyLength = word & ~SealedFlag;
        if (bodyLength < BodyFixedSize || bodyLength > MaxBodySize
            || ((word & SealedFlag) != 0 && bodyLength < BodyFixedSize + SealHeaderSize + 2 + TagSize))
            return FrameStatus.Invalid;
        frameSize = FramePrefixSize + (int)bodyLength;
        if (src.Length < frameSize)
            return FrameStatus.Incomplete;
        var body = src.Slice(FramePrefixSize, (int)bodyLength);
        if (BinaryPrimitives.ReadUInt32LittleEndian(src[4..]) != Crc32.HashToUInt32(body)
            || BinaryPrimitives.ReadUInt16LittleEndian(body[16..]) > bodyLength - BodyFixedSize)
            return FrameStatus.Invalid;
        ordinal = BinaryPrimitives.ReadUInt64LittleEndian(body);
        arrivalUnixMs = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
        return FrameStatus.Valid;
    }
}

/// <summary>Acknowledged data failed its checksum or structure checks: the log cannot be served as is.</summary>
public sealed class LogCorruptedException(string message) : IOException(message);
