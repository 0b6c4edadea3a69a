using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace Runnel.ShardStore.Engine.Segments;

/// <summary>Position of one record in a segment: the sparse index holds one per <see cref="ShardLogStoreOptions.IndexIntervalBytes"/>.</summary>
internal readonly record struct IndexEntry(ulong Ordinal, long ArrivalUnixMs, long Position);

/// <summary>
/// What readers may see of a segment: bytes up to Length hold records BaseOrdinal .. NextOrdinal - 1, all committed
/// under the store's policy. Replaced as a whole so a reader never pairs a new length with an old ordinal.
/// </summary>
internal sealed record CommitMark(long Length, ulong NextOrdinal, long FirstArrivalUnixMs, long LastArrivalUnixMs)
{
    public bool IsEmpty(ulong baseOrdinal) => NextOrdinal == baseOrdinal;
}

/// <summary>
/// One segment file of a shard log. The writer thread alone appends (Written* fields); readers use <see cref="Commit"/>
/// and <see cref="IndexCount"/>/<see cref="IndexAt"/>, which only ever grow. The handle is shared: reads are positional
/// (pread), so they need no lock. A reference count keeps the handle open while a reader uses a segment that retention
/// is deleting.
/// </summary>
internal sealed class Segment
{
    private IndexEntry[] _index = new IndexEntry[16];
    private int _indexCount;
    private CommitMark _commit;
    private int _refs = 1;

    private Segment(string path, int index, ulong baseOrdinal, SafeFileHandle handle, long length)
    {
        FilePath = path;
        Index = index;
        BaseOrdinal = baseOrdinal;
        Handle = handle;
        _commit = new CommitMark(length, baseOrdinal, 0, 0);
        WrittenLength = length;
        WrittenNextOrdinal = baseOrdinal;
    }

    public string FilePath { get; }
    public string IndexFilePath => Path.ChangeExtension(FilePath, LogFormat.IndexExtension);
    public int Index { get; }
    public ulong BaseOrdinal { get; }
    public SafeFileHandle Handle { get; }

    // Writer-thread state: what has been written to the OS, possibly not yet committed.
    public long WrittenLength { get; set; }
    public ulong WrittenNextOrdinal { get; set; }
    public long WrittenFirstArrivalUnixMs { get; set; }
    public long WrittenLastArrivalUnixMs { get; set; }
    public long LastIndexedPosition { get; set; } = -1;
    /// <summary>True once the segment will never be appended to again (a later segment exists).</summary>
    public bool IsComplete { get; set; }

    public CommitMark Commit => Volatile.Read(ref _commit);

    public int IndexCount => Volatile.Read(ref _indexCount);

    public IndexEntry IndexAt(int i) => Volatile.Read(ref _index)[i];

    public void PublishCommit() =>
        Volatile.Write(ref _commit, new CommitMark(WrittenLength, WrittenNextOrdinal, WrittenFirstArrivalUnixMs, WrittenLastArrivalUnixMs));

    /// <summary>Writer only. A reader that read count n then the array sees at least n entries: the array is published before the count.</summary>
    public void AddIndexEntry(IndexEntry entry)
    {
        var n = _indexCount;
        var array = _index;
        if (n == array.Length)
        {
            var grown = new IndexEntry[array.Length * 2];
            array.CopyTo(grown, 0);
            Volatile.Write(ref _index, grown);
            array = grown;
        }
        array[n] = entry;
        Volatile.Write(ref _indexCount, n + 1);
    }

    /// <summary>The last index entry whose ordinal is at or below <paramref name="ordinal"/>; the header end if none.</summary>
    public long SeekOrdinal(ulong ordinal)
    {
        var count = IndexCount;
        var array = Volatile.Read(ref _index);
        int lo = 0, hi = count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (array[mid].Ordinal <= ordinal)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found < 0 ? LogFormat.SegmentHeaderSize : array[found].Position;
    }

    /// <summary>The last index entry whose arrival is strictly before <paramref name="unixMs"/>; the header end if none. Arrival times never decrease within a shard.</summary>
    public long SeekArrival(long unixMs)
    {
        var count = IndexCount;
        var array = Volatile.Read(ref _index);
        int lo = 0, hi = count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (array[mid].ArrivalUnixMs < unixMs)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found < 0 ? LogFormat.SegmentHeaderSize : array[found].Position;
    }

    public bool TryAcquire()
    {
        while (true)
        {
            var refs = Volatile.Read(ref _refs);
            if (refs <= 0)
                return false;
            if (Interlocked.CompareExchange(ref _refs, refs + 1, refs) == refs)
                return true;
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
            Handle.Dispose();
    }

    /// <summary>Creates a new segment file with its header and makes the file and its directory entry durable.</summary>
    public static Segment Create(string directory, int index, ulong baseOrdinal, long createdUnixMs, long streamId, int shardIndex)
    {
        var path = Path.Combine(directory, LogFormat.SegmentFileName(index));
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        try
        {
            Span<byte> header = stackalloc byte[LogFormat.SegmentHeaderSize];
            LogFormat.WriteSegmentHeader(header, index, baseOrdinal, createdUnixMs, streamId, shardIndex);
            RandomAccess.Write(handle, header, 0);
            RandomAccess.FlushToDisk(handle);
            DurableFiles.FsyncDirectory(directory);
            return new Segment(path, index, baseOrdinal, handle, LogFormat.SegmentHeaderSize);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing segment; null when its header is missing or invalid (a segment whose creation was torn).</summary>
    public static Segment? Open(string path, int index)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        try
        {
            var length = RandomAccess.GetLength(handle);
            Span<byte> header = stackalloc byte[LogFormat.SegmentHeaderSize];
            if (length < LogFormat.SegmentHeaderSize
                || RandomAccess.Read(handle, header, 0) != LogFormat.SegmentHeaderSize
                || !LogFormat.TryReadSegmentHeader(header, out var headerIndex, out var baseOrdinal, out _)
                || headerIndex != index)
            {
                handle.Dispose();
                return null;
            }
            return new Segment(path, index, baseOrdinal, handle, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public readonly record struct ScanResult(long ValidLength, long FileLength, bool StoppedOnInvalidFrame, bool StoppedOnIncompleteFrame);

    /// <summary>
    /// Reads every frame from the header to the end of the file, verifying lengths, CRCs and ordinal continuity, and
    /// rebuilds the writer state and the sparse index. Stops at the first frame that is not valid.
    /// </summary>
    public ScanResult Scan(int indexIntervalBytes)
    {
        var fileLength = RandomAccess.GetLength(Handle);
        var buffer = ArrayPool<byte>.Shared.Rent(1024 * 1024);
        try
        {
            long position = LogFormat.SegmentHeaderSize;
            var next = BaseOrdinal;
            long first = 0, last = 0;
            var invalid = false;
            var incomplete = false;
            while (position < fileLength)
            {
                var toRead = (int)Math.Min(buffer.Length, fileLength - position);
                var read = RandomAccess.Read(Handle, buffer.AsSpan(0, toRead), position);
                var span = buffer.AsSpan(0, read);
                var consumed = 0;
                while (true)
                {
                    var status = LogFormat.TryParseFrame(span[consumed..], out var size, out var ordinal, out var arrival);
                    if (status == LogFormat.FrameStatus.Incomplete)
                    {
                        if (size > buffer.Length)
                        {
                            // A frame larger than the buffer: grow and reread from its start.
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = ArrayPool<byte>.Shared.Rent(size);
                        }
                        else if (position + consumed + Math.Max(size, LogFormat.FramePrefixSize) > fileLength)
                        {
                            incomplete = true;
                        }
                        break;
                    }
                    if (status == LogFormat.FrameStatus.Invalid || ordinal != next || (next != BaseOrdinal && arrival < last))
                    {
                        invalid = true;
                        break;
                    }
                    var framePosition = position + consumed;
                    if (next == BaseOrdinal)
                        first = arrival;
                    if (LastIndexedPosition < 0 || framePosition - LastIndexedPosition >= indexIntervalBytes)
                    {
                        AddIndexEntry(new IndexEntry(ordinal, arrival, framePosition));
                        LastIndexedPosition = framePosition;
                    }
                    next++;
                    last = arrival;
                    consumed += size;
                }
                position += consumed;
                if (invalid || incomplete)
                    break;
                if (consumed == 0 && read == toRead && toRead < buffer.Length)
                {
                    incomplete = true;
                    break;
                }
            }
            WrittenLength = position;
            WrittenNextOrdinal = next;
            WrittenFirstArrivalUnixMs = first;
            WrittenLastArrivalUnixMs = last;
            PublishCommit();
            return new ScanResult(position, fileLength, invalid, incomplete);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Cuts the file back to its last valid frame and makes the cut durable.</summary>
    public void TruncateTo(long length)
    {
        RandomAccess.SetLength(Handle, length);
        RandomAccess.FlushToDisk(Handle);
        WrittenLength = length;
        PublishCommit();
    }

    /// <summary>Writer only: writes the sparse index of a complete, fsynced segment (temp file + rename; it can always be rebuilt by a scan, so no fsync).</summary>
    public void WriteIndexFile()
    {
        var count = IndexCount;
        var size = LogFormat.IndexHeaderSize + (count * LogFormat.IndexEntrySize) + 4;
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var span = buffer.AsSpan(0, size);
            span.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(span, LogFormat.IndexMagic);
            BinaryPrimitives.WriteUInt16LittleEndian(span[4..], LogFormat.FormatVersion);
            BinaryPrimitives.WriteUInt16LittleEndian(span[6..], LogFormat.MinCompatibleVersion);
            BinaryPrimitives.WriteInt32LittleEndian(span[8..], count);
            BinaryPrimitives.WriteInt64LittleEndian(span[16..], WrittenLength);
            BinaryPrimitives.WriteUInt64LittleEndian(span[24..], BaseOrdinal);
            BinaryPrimitives.WriteUInt64LittleEndian(span[32..], WrittenNextOrdinal);
            BinaryPrimitives.WriteInt64LittleEndian(span[40..], WrittenFirstArrivalUnixMs);
            BinaryPrimitives.WriteInt64LittleEndian(span[48..], WrittenLastArrivalUnixMs);
            var offset = LogFormat.IndexHeaderSize;
            for (var i = 0; i < count; i++, offset += LogFormat.IndexEntrySize)
            {
                var e = IndexAt(i);
                BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], e.Ordinal);
                BinaryPrimitives.WriteInt64LittleEndian(span[(offset + 8)..], e.ArrivalUnixMs);
                BinaryPrimitives.WriteInt64LittleEndian(span[(offset + 16)..], e.Position);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], Crc32.HashToUInt32(span[..offset]));
            var temp = IndexFilePath + ".tmp";
            File.WriteAllBytes(temp, span);
            File.Move(temp, IndexFilePath, overwrite: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Loads the sparse index of a complete segment; false (and nothing loaded) when it is missing, stale or corrupt.</summary>
    public bool TryLoadIndexFile()
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(IndexFilePath);
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        ReadOnlySpan<byte> span = bytes;
        if (span.Length < LogFormat.IndexHeaderSize + 4
            || BinaryPrimitives.ReadUInt32LittleEndian(span) != LogFormat.IndexMagic
            || BinaryPrimitives.ReadUInt16LittleEndian(span[6..]) > LogFormat.FormatVersion)
            return false;
        var count = BinaryPrimitives.ReadInt32LittleEndian(span[8..]);
        var size = LogFormat.IndexHeaderSize + ((long)count * LogFormat.IndexEntrySize) + 4;
        if (count < 0 || span.Length != size)
            return false;
        var crcOffset = (int)size - 4;
        if (BinaryPrimitives.ReadUInt32LittleEndian(span[crcOffset..]) != Crc32.HashToUInt32(span[..crcOffset]))
            return false;
        var length = BinaryPrimitives.ReadInt64LittleEndian(span[16..]);
        if (length != RandomAccess.GetLength(Handle) || BinaryPrimitives.ReadUInt64LittleEndian(span[24..]) != BaseOrdinal)
            return false;
        WrittenLength = length;
        WrittenNextOrdinal = BinaryPrimitives.ReadUInt64LittleEndian(span[32..]);
        WrittenFirstArrivalUnixMs = BinaryPrimitives.ReadInt64LittleEndian(span[40..]);
        WrittenLastArrivalUnixMs = BinaryPrimitives.ReadInt64LittleEndian(span[48..]);
        var offset = LogFormat.IndexHeaderSize;
        for (var i = 0; i < count; i++, offset += LogFormat.IndexEntrySize)
        {
            AddIndexEntry(new IndexEntry(
                BinaryPrimitives.ReadUInt64LittleEndian(span[offset..]),
                BinaryPrimitives.ReadInt64LittleEndian(span[(offset + 8)..]),
                BinaryPrimitives.ReadInt64LittleEndian(span[(offset + 16)..])));
        }
        PublishCommit();
        return true;
    }
}
