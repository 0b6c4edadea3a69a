using System.Diagnostics;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// Keeps the store's own appends from filling the data directory's file system. A write that fails for lack of space
/// faults the whole store (see <see cref="LogWriter"/>: after a failed write or fsync only a reopen is safe), so appends
/// are refused before that: while fewer than <see cref="ShardLogStoreOptions.MinFreeDiskBytes"/> would remain free after
/// an append, it fails with <see cref="StorageFullException"/> and nothing is written. The reserve leaves room for what
/// must still work on a full disk: checkpoints, seals, the metadata database when it shares the disk, and deletes, which
/// are how an operator frees space. Refusals lift by themselves once space is back; nothing needs a restart.
/// Used by the writer thread only.
/// </summary>
internal sealed class DiskSpaceGuard(string directory, long minFreeBytes)
{
    // statvfs costs a few microseconds, too much for every small append but nothing every 100 ms. Between two looks at
    // the file system the guard counts what it admitted, so a burst cannot write past the reserve unseen; a refusal
    // looks again at most every 20 ms, so a disk with space again is noticed within that.
    private static readonly long RecheckTicks = Stopwatch.Frequency / 10;
    private static readonly long RefusedRecheckTicks = Stopwatch.Frequency / 50;

    private readonly DriveInfo? _drive = minFreeBytes > 0 ? new DriveInfo(directory) : null;
    private long _available = long.MaxValue;
    private long _admittedSinceCheck;
    private long _checkedAt = long.MinValue / 2;

    /// <summary>True while the last look found less than the reserve free.</summary>
    public bool Low { get; private set; }

    public bool Admits(long bytes)
    {
        if (_drive is null)
            return true;
        var now = Stopwatch.GetTimestamp();
        var fits = _available - _admittedSinceCheck - bytes >= minFreeBytes;
        var due = now - _checkedAt >= (fits ? RecheckTicks : RefusedRecheckTicks)
            || _admittedSinceCheck + bytes >= minFreeBytes / 4;
        if (due)
        {
            Refresh(now);
            fits = _available - bytes >= minFreeBytes;
        }
        Low = !fits;
        if (fits)
            _admittedSinceCheck += bytes;
        return fits;
    }

    private void Refresh(long now)
    {
        _checkedAt = now;
        _admittedSinceCheck = 0;
        try
        {
            _available = _drive!.AvailableFreeSpace;
        }
        catch (IOException)
        {
            // The file system did not answer; the write itself will tell.
            _available = long.MaxValue;
        }
    }
}

/// <summary>
/// The data directory's file system is nearly full: the append was refused before anything was written. Retryable;
/// appends are accepted again once space is freed (for example by deleting a stream or widening the volume).
/// </summary>
public sealed class StorageFullException(string message) : IOException(message);
