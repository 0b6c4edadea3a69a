using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace Runnel.ShardStore.Engine.Checkpoints;

/// <summary>A flushed position of a shard log: every record below NextOrdinal is on disk (fsynced) at or before Position of segment SegmentIndex.</summary>
public readonly record struct CheckpointValue(int SegmentIndex, long Position, ulong NextOrdinal);

/// <summary>
/// The shard's flushed-position checkpoint. <see cref="Read"/> returns only positions whose data was fsynced, so an
/// append is acknowledged only when this value covers it. The file is rewritten in place after each flush without a
/// second fsync: it never claims more than the data fsync already made durable, a torn write fails its CRC and is
/// ignored, and recovery then treats the whole tail as unverified. Its job is to tell a torn tail (after the
/// checkpoint: truncate) from corruption of acknowledged data (before it: refuse to serve).
/// </summary>
internal sealed class ShardCheckpoint : IDisposable
{
    private readonly SafeFileHandle _handle;
    private CheckpointValue _flushed;

    private ShardCheckpoint(SafeFileHandle handle, CheckpointValue value)
    {
        _handle = handle;
        _flushed = value;
    }

    public CheckpointValue Read() => _flushed;

    /// <summary>Writer only: records a position that is already fsynced.</summary>
    public void Flush(CheckpointValue value)
    {
        Span<byte> buffer = stackalloc byte[LogFormat.CheckpointSize];
        buffer.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, LogFormat.CheckpointMagic);
        BinaryPrimitives.WriteInt32LittleEndian(buffer[4..], value.SegmentIndex);
        BinaryPrimitives.WriteInt64LittleEndian(buffer[8..], value.Position);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[16..], value.NextOrdinal);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[28..], Crc32.HashToUInt32(buffer[..28]));
        RandomAccess.Write(_handle, buffer, 0);
        _flushed = value;
    }

    public void FsyncFile() => RandomAccess.FlushToDisk(_handle);

    /// <summary>Opens or creates the file; a missing or invalid file reads as null.</summary>
    public static ShardCheckpoint Open(string directory, out CheckpointValue? stored)
    {
        var handle = File.OpenHandle(Path.Combine(directory, LogFormat.CheckpointFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        Span<byte> buffer = stackalloc byte[LogFormat.CheckpointSize];
        stored = null;
        if (RandomAccess.Read(handle, buffer, 0) == LogFormat.CheckpointSize
            && BinaryPrimitives.ReadUInt32LittleEndian(buffer) == LogFormat.CheckpointMagic
            && BinaryPrimitives.ReadUInt32LittleEndian(buffer[28..]) == Crc32.HashToUInt32(buffer[..28]))
        {
            stored = new CheckpointValue(
                BinaryPrimitives.ReadInt32LittleEndian(buffer[4..]),
                BinaryPrimitives.ReadInt64LittleEndian(buffer[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(buffer[16..]));
        }
        return new ShardCheckpoint(handle, stored ?? default);
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>Durable per-shard settings and ownership. Changed only by an atomic replace (temp + fsync + rename + directory fsync).</summary>
internal sealed record ShardMetadata(long Epoch, ulong? SealedAtOrdinal, long RetentionMs, long CreatedUnixMs)
{
    public static ShardMetadata? Read(string directory)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path.Combine(directory, LogFormat.MetadataFileName));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        ReadOnlySpan<byte> span = bytes;
        if (span.Length != LogFormat.MetadataSize
            || BinaryPrimitives.ReadUInt32LittleEndian(span) != LogFormat.MetadataMagic
            || BinaryPrimitives.ReadUInt32LittleEndian(span[52..]) != Crc32.HashToUInt32(span[..52]))
            throw new LogCorruptedException($"Shard metadata in {directory} is corrupt.");
        if (BinaryPrimitives.ReadUInt16LittleEndian(span[6..]) > LogFormat.FormatVersion)
            throw new LogCorruptedException($"Shard metadata in {directory} was written by a newer, incompatible version.");
        var sealedFlag = span[24] != 0;
        return new ShardMetadata(
            BinaryPrimitives.ReadInt64LittleEndian(span[8..]),
            sealedFlag ? BinaryPrimitives.ReadUInt64LittleEndian(span[16..]) : null,
            BinaryPrimitives.ReadInt64LittleEndian(span[32..]),
            BinaryPrimitives.ReadInt64LittleEndian(span[40..]));
    }

    public void Write(string directory)
    {
        Span<byte> span = stackalloc byte[LogFormat.MetadataSize];
        span.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(span, LogFormat.MetadataMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], LogFormat.FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], LogFormat.MinCompatibleVersion);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], SealedAtOrdinal ?? 0);
        span[24] = SealedAtOrdinal.HasValue ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], RetentionMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[40..], CreatedUnixMs);
        BinaryPrimitives.WriteUInt32LittleEndian(span[52..], Crc32.HashToUInt32(span[..52]));
        DurableFiles.WriteAtomically(Path.Combine(directory, LogFormat.MetadataFileName), span);
    }
}
