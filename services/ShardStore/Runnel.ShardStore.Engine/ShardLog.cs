using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine.Checkpoints;
using Runnel.ShardStore.Engine.Segments;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// One shard's log: an ordered list of segments, the last of which (the tail) is the only one written to.
/// Thread model: the store's writer thread alone stages and writes records, rolls segments and publishes commit
/// marks; retention removes segments from the head under <see cref="_segmentsLock"/>; readers work lock-free on
/// snapshots of the segment array and each segment's <see cref="CommitMark"/>.
/// </summary>
internal sealed class ShardLog
{
    /// <summary>Reads allocate their buffers in chunks below the large-object threshold (85,000 bytes) so they stay in gen0.</summary>
    private const int ReadChunkBytes = 80 * 1024;

    private readonly Lock _segmentsLock = new();
    private readonly Lock _metadataLock = new();
    private readonly ShardLogStoreOptions _options;
    private Segment[] _segments;
    private ShardMetadata _metadata;

    private ShardLog(ShardRef shard, string directory, ShardLogStoreOptions options, ShardMetadata metadata, Segment[] segments, ShardCheckpoint checkpoint)
    {
        Shard = shard;
        Directory = directory;
        _options = options;
        _metadata = metadata;
        _segments = segments;
        Checkpoint = checkpoint;
        var tail = segments[^1];
        WriterLastArrivalUnixMs = segments.Max(s => s.WrittenLastArrivalUnixMs);
        if (tail.WrittenNextOrdinal > tail.BaseOrdinal)
            Checkpoint.Flush(new CheckpointValue(tail.Index, tail.WrittenLength, tail.WrittenNextOrdinal));
    }

    public ShardRef Shard { get; }
    public string Directory { get; }
    public ShardCheckpoint Checkpoint { get; }
    public ShardMetadata Metadata => Volatile.Read(ref _metadata);
    public Segment[] Segments => Volatile.Read(ref _segments);
    public Segment Tail => Segments[^1];
    public volatile bool Deleted;

    /// <summary>Completed (and replaced) whenever committed records become visible, the shard is sealed or deleted.</summary>
    public ChangeSignal Changed { get; } = new();

    // Writer-thread state.
    public long WriterLastArrivalUnixMs;
    public byte[] Pending = [];
    public int PendingLength;
    public bool InGroup;
    public bool Unsynced;
    public readonly List<Segment> SegmentsToPublish = [];

    public static string DirectoryFor(string root, ShardRef shard) =>
        Path.Combine(root, shard.StreamId.ToString(CultureInfo.InvariantCulture), shard.ShardIndex.ToString(CultureInfo.InvariantCulture));

    /// <summary>Creates a new shard: its first segment, then the metadata file, whose existence is what makes the shard exist.</summary>
    public static ShardLog Create(ShardRef shard, string directory, ShardLogStoreOptions options, ShardMetadata metadata)
    {
        if (System.IO.Directory.Exists(directory))
            System.IO.Directory.Delete(directory, recursive: true);
        System.IO.Directory.CreateDirectory(directory);
        DurableFiles.FsyncDirectory(Path.GetDirectoryName(directory)!);
        var segment = Segment.Create(directory, 0, 0, metadata.CreatedUnixMs, shard.StreamId, shard.ShardIndex);
        var checkpoint = ShardCheckpoint.Open(directory, out _);
        metadata.Write(directory);
        return new ShardLog(shard, directory, options, metadata, [segment], checkpoint);
    }

    /// <summary>
    /// Opens an existing shard and recovers it: complete segments load their index file (or are rescanned), the tail is
    /// scanned with CRC checks and cut back to its last valid frame. Returns null when the shard does not exist.
    /// </summary>
    public static ShardLog? Load(ShardRef shard, string directory, ShardLogStoreOptions options, ILogger logger)
    {
        var metadata = ShardMetadata.Read(directory);
        if (metadata is null)
        {
            // A creation that crashed before its metadata file was renamed into place: the shard never existed.
            if (System.IO.Directory.Exists(directory))
                System.IO.Directory.Delete(directory, recursive: true);
            return null;
        }
        var files = new List<(int Index, string Path)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(directory))
        {
            if (LogFormat.TryParseSegmentFileName(Path.GetFileName(path), out var index, out _))
                files.Add((index, path));
            else if (path.EndsWith(".tmp", StringComparison.Ordinal))
                File.Delete(path);
        }
        files.Sort((a, b) => a.Index.CompareTo(b.Index));
        var checkpoint = ShardCheckpoint.Open(directory, out var stored);
        var segments = new List<Segment>();
        try
        {
            for (var i = 0; i < files.Count; i++)
            {
                var isTail = i == files.Count - 1;
                var segment = Segment.Open(files[i].Path, files[i].Index);
                if (segment is null)
                {
                    if (!isTail)
                        throw new LogCorruptedException($"Segment {files[i].Path} has an invalid header.");
                    // The newest segment's creation was torn; nothing in it was ever acknowledged.
                    logger.LogWarning("Removing segment {Path} with a torn header", files[i].Path);
                    File.Delete(files[i].Path);
                    break;
                }
                segments.Add(segment);
                if (segments.Count > 1 && segments[^2].WrittenNextOrdinal != segment.BaseOrdinal)
                    throw new LogCorruptedException($"Segment {files[i].Path} does not continue its predecessor.");
                if (!isTail)
                {
                    segment.IsComplete = true;
                    if (segment.TryLoadIndexFile())
                        continue;
                    var scan = segment.Scan(options.IndexIntervalBytes);
                    if (scan.ValidLength != scan.FileLength)
                        throw new LogCorruptedException($"Segment {files[i].Path} is corrupt at byte {scan.ValidLength}.");
                    segment.WriteIndexFile();
                    continue;
                }
                var result = segment.Scan(options.IndexIntervalBytes);
                if (result.ValidLength != result.FileLength)
                {
                    var acknowledged = stored is { } c && c.SegmentIndex == segment.Index && c.Position > result.ValidLength;
                    if (acknowledged && result.StoppedOnInvalidFrame)
                        throw new LogCorruptedException(
                            $"Segment {files[i].Path} fails its checks at byte {result.ValidLength}, below the flushed checkpoint {stored!.Value.Position}.");
                    logger.LogWarning("Truncating torn tail of {Path} from {Length} to {Valid} bytes", files[i].Path, result.FileLength, result.ValidLength);
                    segment.TruncateTo(result.ValidLength);
                }
            }
            if (segments.Count == 0)
            {
                var baseOrdinal = stored?.NextOrdinal ?? 0;
                var index = files.Count == 0 ? 0 : files[^1].Index;
                segments.Add(Segment.Create(directory, index, baseOrdinal, options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(), shard.StreamId, shard.ShardIndex));
            }
            // What survived in the page cache after a process crash may not be on disk yet: make it so before the
            // checkpoint (which claims "flushed") is moved over it.
            RandomAccess.FlushToDisk(segments[^1].Handle);
            return new ShardLog(shard, directory, options, metadata, [.. segments], checkpoint);
        }
        catch
        {
            foreach (var s in segments)
                s.Release();
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Applies <paramref name="change"/> to the metadata and persists it atomically before publishing it.</summary>
    public ShardMetadata UpdateMetadata(Func<ShardMetadata, ShardMetadata> change)
    {
        lock (_metadataLock)
        {
            var current = _metadata;
            var next = change(current);
            if (next != current)
            {
                next.Write(Directory);
                Volatile.Write(ref _metadata, next);
            }
            return next;
        }
    }

    public ulong TrimOrdinal => Segments[0].BaseOrdinal;

    /// <summary>One past the last committed record.</summary>
    public ulong CommittedNextOrdinal => Tail.Commit.NextOrdinal;

    public long CommittedLastArrivalUnixMs
    {
        get
        {
            var segments = Segments;
            for (var i = segments.Length - 1; i >= 0; i--)
            {
                var commit = segments[i].Commit;
                if (!commit.IsEmpty(segments[i].BaseOrdinal))
                    return commit.LastArrivalUnixMs;
            }
            return 0;
        }
    }

    public ShardState GetState()
    {
        var metadata = Metadata;
        return new ShardState(Shard, metadata.Epoch, TrimOrdinal, CommittedNextOrdinal, metadata.SealedAtOrdinal, CommittedLastArrivalUnixMs);
    }

    // ---- writer side ----

    /// <summary>Writer only: makes room for <paramref name="bytes"/> more staged bytes.</summary>
    public Span<byte> ReservePending(int bytes)
    {
        if (PendingLength + bytes > Pending.Length)
        {
            var grown = ArrayPool<byte>.Shared.Rent(Math.Max(PendingLength + bytes, Math.Max(64 * 1024, Pending.Length * 2)));
            Pending.AsSpan(0, PendingLength).CopyTo(grown);
            if (Pending.Length > 0)
                ArrayPool<byte>.Shared.Return(Pending);
            Pending = grown;
        }
        var span = Pending.AsSpan(PendingLength, bytes);
        PendingLength += bytes;
        return span;
    }

    /// <summary>
    /// Writer only: reserves the next frame of <paramref name="size"/> bytes at the tail, rolling over first when it
    /// would not fit the segment (a segment always takes at least one frame), and advances the written state.
    /// </summary>
    public Span<byte> AppendFrame(int size, long arrivalUnixMs, long nowUnixMs, out ulong ordinal)
    {
        var tail = Tail;
        var position = tail.WrittenLength + PendingLength;
        if (position + size > _options.SegmentSizeBytes && tail.WrittenNextOrdinal > tail.BaseOrdinal)
        {
            tail = RollOver(nowUnixMs);
            position = tail.WrittenLength;
        }
        ordinal = tail.WrittenNextOrdinal;
        if (tail.LastIndexedPosition < 0 || position - tail.LastIndexedPosition >= _options.IndexIntervalBytes)
        {
            tail.AddIndexEntry(new IndexEntry(ordinal, arrivalUnixMs, position));
            tail.LastIndexedPosition = position;
        }
        if (tail.WrittenNextOrdinal == tail.BaseOrdinal)
            tail.WrittenFirstArrivalUnixMs = arrivalUnixMs;
        tail.WrittenNextOrdinal = ordinal + 1;
        tail.WrittenLastArrivalUnixMs = arrivalUnixMs;
        return ReservePending(size);
    }

    /// <summary>
    /// Recovery only: appends the frames a commit journal holds for this shard that its files lack (a shard file's
    /// unsynced tail is lost in a power failure). Frames below the tail's next ordinal are already here; a frame
    /// beyond it would leave a gap, which only corruption can cause. Returns how many frames were appended.
    /// </summary>
    public int Replay(ReadOnlySpan<byte> frames, long nowUnixMs)
    {
        var appended = 0;
        while (!frames.IsEmpty)
        {
            if (LogFormat.TryParseFrame(frames, out var size, out var ordinal, out var arrival) != LogFormat.FrameStatus.Valid)
                throw new LogCorruptedException($"The commit journal holds an invalid frame of shard {Shard}.");
            var next = Tail.WrittenNextOrdinal;
            if (ordinal > next)
                throw new LogCorruptedException($"The commit journal continues shard {Shard} at {ordinal}, but its files end at {next}.");
            if (ordinal == next)
            {
                frames[..size].CopyTo(AppendFrame(size, arrival, nowUnixMs, out _));
                WriterLastArrivalUnixMs = Math.Max(WriterLastArrivalUnixMs, arrival);
                appended++;
            }
            frames = frames[size..];
        }
        return appended;
    }

    /// <summary>Writer only: hands staged bytes to the OS at the tail's end (no fsync).</summary>
    public void WritePending()
    {
        if (PendingLength == 0)
            return;
        var tail = Tail;
        RandomAccess.Write(tail.Handle, Pending.AsSpan(0, PendingLength), tail.WrittenLength);
        tail.WrittenLength += PendingLength;
        PendingLength = 0;
        if (Pending.Length > 1024 * 1024)
        {
            // Keep small buffers between groups; give big ones back so idle shards do not pin memory.
            ArrayPool<byte>.Shared.Return(Pending);
            Pending = [];
        }
    }

    /// <summary>
    /// Writer only: finishes the tail (its staged bytes written and fsynced, so a complete segment never has a torn
    /// end) and starts a new one at the next ordinal.
    /// </summary>
    public Segment RollOver(long nowUnixMs)
    {
        WritePending();
        var old = Tail;
        RandomAccess.FlushToDisk(old.Handle);
        old.IsComplete = true;
        old.WriteIndexFile();
        var next = Segment.Create(Directory, old.Index + 1, old.WrittenNextOrdinal, nowUnixMs, Shard.StreamId, Shard.ShardIndex);
        next.WrittenLastArrivalUnixMs = WriterLastArrivalUnixMs;
        if (!SegmentsToPublish.Contains(old))
            SegmentsToPublish.Add(old);
        lock (_segmentsLock)
            Volatile.Write(ref _segments, [.. _segments, next]);
        return next;
    }

    /// <summary>Writer only: where the checkpoint may stand once everything written to the tail is durable.</summary>
    public CheckpointValue WrittenMark()
    {
        var tail = Tail;
        return new CheckpointValue(tail.Index, tail.WrittenLength, tail.WrittenNextOrdinal);
    }

    /// <summary>Writer only, once the tail is fsynced up to <paramref name="mark"/>: moves the checkpoint there durably.</summary>
    public void CheckpointDurably(CheckpointValue mark)
    {
        Checkpoint.Flush(mark);
        Checkpoint.FsyncFile();
    }

    /// <summary>Writer only, after the group's data is committed: makes it visible to readers, oldest segment first.</summary>
    public void PublishCommits()
    {
        foreach (var segment in SegmentsToPublish)
            segment.PublishCommit();
        SegmentsToPublish.Clear();
        Tail.PublishCommit();
    }

    /// <summary>Removes expired complete segments from the head; the caller deletes their files.</summary>
    public List<Segment> DetachExpired(long cutoffUnixMs)
    {
        var removed = new List<Segment>();
        lock (_segmentsLock)
        {
            var segments = _segments;
            var keep = 0;
            while (keep < segments.Length - 1 && segments[keep].IsComplete)
            {
                var commit = segments[keep].Commit;
                if (!commit.IsEmpty(segments[keep].BaseOrdinal) && commit.LastArrivalUnixMs >= cutoffUnixMs)
                    break;
                removed.Add(segments[keep]);
                keep++;
            }
            if (keep > 0)
                Volatile.Write(ref _segments, segments[keep..]);
        }
        return removed;
    }

    public void ReleaseAll()
    {
        foreach (var segment in Segments)
            segment.Release();
        Checkpoint.Dispose();
        if (Pending.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Pending);
            Pending = [];
        }
    }

    // ---- reader side ----

    public ReadResult Read(ReadRequest request, long nowUnixMs, RecordOpener? opener)
    {
        var metadata = Metadata;
        var segments = Segments;
        var from = Math.Max(request.FromOrdinal, segments[0].BaseOrdinal);
        var records = new List<StoredRecord>(Math.Min(Math.Max(request.MaxRecords, 1), 1024));
        var maxRecords = Math.Max(request.MaxRecords, 1);
        long bytes = 0;
        var next = from;
        var start = FindSegment(segments, from);
        for (var i = start; i < segments.Length && records.Count < maxRecords; i++)
        {
            var segment = segments[i];
            if (!segment.TryAcquire())
                continue;
            bool full;
            CommitMark commit;
            try
            {
                commit = segment.Commit;
                if (next < segment.BaseOrdinal || next >= commit.NextOrdinal)
                {
                    full = false;
                }
                else
                {
                    full = ReadSegment(segment, commit, next, maxRecords, request.MaxBytes, opener, records, ref bytes);
                    if (records.Count > 0)
                        next = records[^1].Ordinal + 1;
                }
            }
            finally
            {
                segment.Release();
            }
            // A later segment is readable only if this one is fully committed up to where the next one starts.
            if (full || !segment.IsComplete || (i + 1 < segments.Length && commit.NextOrdinal != segments[i + 1].BaseOrdinal))
                break;
        }
        var tip = CommittedNextOrdinal;
        var endOfShard = metadata.SealedAtOrdinal is { } sealedAt && next >= sealedAt;
        var behind = records.Count == 0 || next >= tip ? 0 : Math.Max(0, nowUnixMs - records[^1].ArrivalUnixMs);
        return new ReadResult(records, next, endOfShard, behind);
    }

    private static int FindSegment(Segment[] segments, ulong ordinal)
    {
        int lo = 0, hi = segments.Length - 1, found = 0;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (segments[mid].BaseOrdinal <= ordinal)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>Appends records at or after <paramref name="from"/>; true when a limit was reached.</summary>
    private static bool ReadSegment(Segment segment, CommitMark commit, ulong from, int maxRecords, int maxBytes, RecordOpener? opener, List<StoredRecord> records, ref long bytes)
    {
        var position = segment.SeekOrdinal(from);
        var end = commit.Length;
        while (position < end)
        {
            var chunk = (int)Math.Min(ReadChunkBytes, end - position);
            var buffer = GC.AllocateUninitializedArray<byte>(chunk);
            var read = RandomAccess.Read(segment.Handle, buffer, position);
            if (read < chunk)
                throw new LogCorruptedException($"Segment {segment.FilePath} is shorter than its committed length.");
            var offset = 0;
            while (offset < read)
            {
                var status = LogFormat.TryParseFrame(buffer.AsSpan(offset, read - offset), out var size, out var ordinal, out var arrival);
                if (status == LogFormat.FrameStatus.Invalid)
                    throw new LogCorruptedException($"Segment {segment.FilePath} fails its checks at byte {position + offset}.");
                if (status == LogFormat.FrameStatus.Incomplete)
                {
                    if (offset == 0)
                    {
                        if (position + size > end || size <= chunk)
                            throw new LogCorruptedException($"Segment {segment.FilePath} has a frame past its committed length at byte {position}.");
                        // A frame larger than the chunk gets a buffer of its own.
                        buffer = GC.AllocateUninitializedArray<byte>(size);
                        if (RandomAccess.Read(segment.Handle, buffer, position) < size)
                            throw new LogCorruptedException($"Segment {segment.FilePath} is shorter than its committed length.");
                        if (LogFormat.TryParseFrame(buffer, out size, out ordinal, out arrival) != LogFormat.FrameStatus.Valid)
                            throw new LogCorruptedException($"Segment {segment.FilePath} fails its checks at byte {position}.");
                        if (TakeRecord(buffer, 0, size, ordinal, arrival, from, maxRecords, maxBytes, opener, records, ref bytes))
                            return true;
                        offset = size;
                        read = size;
                    }
                    break;
                }
                if (TakeRecord(buffer, offset, size, ordinal, arrival, from, maxRecords, maxBytes, opener, records, ref bytes))
                    return true;
                offset += size;
            }
            position += offset;
        }
        return false;
    }

    private static bool TakeRecord(byte[] buffer, int offset, int size, ulong ordinal, long arrival, ulong from, int maxRecords, int maxBytes,
        RecordOpener? opener, List<StoredRecord> records, ref long bytes)
    {
        if (ordinal < from)
            return false;
        var frame = buffer.AsSpan(offset, size);
        if (LogFormat.IsSealed(frame))
        {
            var sealedPayload = size - LogFormat.SealedFrameOverhead;
            if (records.Count > 0 && bytes + sealedPayload > maxBytes)
                return true;
            if (opener is null)
                throw new DataKeyUnavailableException($"Record {ordinal} is encrypted and this store has no key store to open it.");
            var (partitionKey, data) = opener.Open(frame, size, ordinal, arrival);
            records.Add(new StoredRecord(ordinal, arrival, partitionKey, data, Encrypted: true));
            bytes += sealedPayload;
            return records.Count >= maxRecords || bytes >= maxBytes;
        }
        var body = offset + LogFormat.FramePrefixSize;
        var keyBytes = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(body + 16));
        var payload = size - LogFormat.FrameOverhead;
        if (records.Count > 0 && bytes + payload > maxBytes)
            return true;
        var key = Encoding.UTF8.GetString(buffer, body + LogFormat.BodyFixedSize, keyBytes);
        var dataOffset = body + LogFormat.BodyFixedSize + keyBytes;
        records.Add(new StoredRecord(ordinal, arrival, key, new ReadOnlyMemory<byte>(buffer, dataOffset, payload - keyBytes)));
        bytes += payload;
        return records.Count >= maxRecords || bytes >= maxBytes;
    }

    /// <summary>The first committed ordinal whose arrival is at or after <paramref name="unixMs"/>; the committed tip if none.</summary>
    public ulong FindOrdinal(long unixMs)
    {
        var segments = Segments;
        foreach (var segment in segments)
        {
            var commit = segment.Commit;
            if (commit.IsEmpty(segment.BaseOrdinal) || commit.LastArrivalUnixMs < unixMs)
                continue;
            if (commit.FirstArrivalUnixMs >= unixMs)
                return segment.BaseOrdinal;
            if (!segment.TryAcquire())
                continue;
            try
            {
                var found = ScanForArrival(segment, commit, unixMs);
                if (found is { } ordinal)
                    return ordinal;
            }
            finally
            {
                segment.Release();
            }
        }
        return CommittedNextOrdinal;
    }

    private static ulong? ScanForArrival(Segment segment, CommitMark commit, long unixMs)
    {
        var position = segment.SeekArrival(unixMs);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadChunkBytes);
        try
        {
            while (position < commit.Length)
            {
                var chunk = (int)Math.Min(buffer.Length, commit.Length - position);
                var read = RandomAccess.Read(segment.Handle, buffer.AsSpan(0, chunk), position);
                var offset = 0;
                while (offset < read)
                {
                    var status = LogFormat.TryParseFrame(buffer.AsSpan(offset, read - offset), out var size, out var ordinal, out var arrival);
                    if (status == LogFormat.FrameStatus.Invalid)
                        throw new LogCorruptedException($"Segment {segment.FilePath} fails its checks at byte {position + offset}.");
                    if (status == LogFormat.FrameStatus.Incomplete)
                    {
                        if (offset == 0)
                        {
                            // Larger than the buffer: grow and retry from the same position.
                            ArrayPool<byte>.Shared.Return(buffer);
                            buffer = ArrayPool<byte>.Shared.Rent(size);
                        }
                        break;
                    }
                    if (arrival >= unixMs)
                        return ordinal;
                    offset += size;
                }
                position += offset;
            }
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
