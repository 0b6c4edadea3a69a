using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine.Checkpoints;
using Runnel.ShardStore.Engine.Journal;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// The single write path of a store: every append, seal, roll and delete of every shard goes through one queue and
/// one loop, so writes need no locks and one fsync can cover many appends (group commit).
///
/// Failure and cancellation rules:
/// - An append is cancelled only if its token fired before the writer took it; once staged it always completes,
///   so a cancelled caller never leaves half a batch behind and a completed task means the records exist.
/// - Appends of one group are acknowledged together after the group's single commit (write + fsync under
///   <see cref="CommitPolicy.Durable"/>). Commit marks and the flushed checkpoint move before the tasks complete.
/// - An I/O failure while writing or fsyncing is fatal: the kernel may have dropped the dirty pages, so retrying the
///   fsync could report success for lost data. The store faults, fails every pending and future write, and must be
///   reopened (recovery then trusts only what is on disk).
/// - Control operations (seal, roll, delete, relaxed flush) first commit the group staged before them, so a seal
///   records exactly the ordinals acknowledged before it.
/// - Under <see cref="CommitPolicy.Durable"/> a group of at most <see cref="ShardLogStoreOptions.JournalMaxCommitBytes"/>
///   is made durable by the <see cref="CommitJournal"/> (one fsync for all its shards); its shard files join the
///   unsynced set, which is fsynced before the journal rotates, before a seal or delete of such a shard, and on close.
///   A larger group fsyncs its shard files directly (copying megabytes twice costs more than the fsyncs saved).
/// </summary>
internal sealed class LogWriter : IAsyncDisposable
{
    private readonly Channel<WriterOp> _queue;
    private readonly ShardLogStoreOptions _options;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ShardLog> _group = [];
    private readonly List<AppendOp> _staged = [];
    private readonly HashSet<ShardLog> _unsynced = [];
    private readonly Action<ShardLog> _onDeleted;
    private CommitJournal? _journal;
    private Retirement? _retiring;
    private readonly DiskSpaceGuard _space;
    private Exception? _fault;
    private volatile bool _abandoned;

    public LogWriter(ShardLogStoreOptions options, ILogger logger, Action<ShardLog> onDeleted, CommitJournal? journal)
    {
        _options = options;
        _logger = logger;
        _onDeleted = onDeleted;
        _journal = journal;
        _space = new DiskSpaceGuard(options.DataDirectory, options.MinFreeDiskBytes);
        _queue = Channel.CreateBounded<WriterOp>(new BoundedChannelOptions(options.MaxQueuedAppends)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        // A thread of its own: the loop blocks in write and fsync calls, which on a thread-pool worker would take one
        // of the few workers (one per core) away from request handling for every commit.
        new Thread(Run) { IsBackground = true, Name = "runnel-log-writer" }.Start();
    }

    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>True while appends are refused because the data directory's file system is nearly full.</summary>
    public bool LowOnSpace => _space.Low;

    public async Task<AppendResult> AppendAsync(ShardLog log, long epoch, IReadOnlyList<AppendRecord> records, StreamDataKey? key, CancellationToken cancellationToken)
    {
        ThrowIfFaulted();
        var op = new AppendOp(log, epoch, records, key, cancellationToken);
        await _queue.Writer.WriteAsync(op, cancellationToken).ConfigureAwait(false);
        return await op.Completion.Task.ConfigureAwait(false);
    }

    public async Task<object?> ControlAsync(ControlKind kind, ShardLog? log, long epoch, CancellationToken cancellationToken)
    {
        // A delete still runs on a faulted store: it is how an operator frees a full disk, and it needs no space.
        if (kind != ControlKind.Delete)
            ThrowIfFaulted();
        var op = new ControlOp(kind, log, epoch);
        await _queue.Writer.WriteAsync(op, cancellationToken).ConfigureAwait(false);
        return await op.Completion.Task.ConfigureAwait(false);
    }

    private void ThrowIfFaulted()
    {
        if (Fault is { } fault)
            throw new IOException("The shard store stopped after a write failure; reopen it to recover.", fault);
    }

    private void Run()
    {
        try
        {
            Loop();
            _stopped.TrySetResult();
        }
        catch (Exception e)
        {
            _stopped.TrySetException(e);
        }
    }

    /// <summary>Blocks this thread until an operation is queued; false once the queue is completed and drained.</summary>
    private static bool WaitToRead(ChannelReader<WriterOp> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    private void Loop()
    {
        var reader = _queue.Reader;
        while (WaitToRead(reader))
        {
            var started = Stopwatch.GetTimestamp();
            long bytes = 0;
            while (bytes < _options.MaxCommitBytes
                && Stopwatch.GetElapsedTime(started) < _options.MaxCommitDelay
                && reader.TryRead(out var op))
            {
                if (Fault is { } fault)
                {
                    if (op is ControlOp { Kind: ControlKind.Delete } delete)
                        RunControl(delete);
                    else
                        op.Fail(new IOException("The shard store stopped after a write failure; reopen it to recover.", fault));
                    continue;
                }
                if (op is AppendOp append)
                {
                    bytes += Stage(append);
                }
                else
                {
                    CommitGroup();
                    RunControl((ControlOp)op);
                }
            }
            CommitGroup();
            if (_retiring is not null)
                FinishRetirement(wait: false);
        }
        CommitGroup();
        if (_abandoned)
        {
            _journal?.Dispose();
            _retiring?.Journal.Dispose();
            return;
        }
        try
        {
            FinishRetirement(wait: true);
            if (Fault is null && _unsynced.Count > 0)
                SyncUnsynced();
            // Everything the journal held is in the shard files now: a clean close leaves no journal to replay.
            if (Fault is null)
                _journal?.Retire();
            else
                _journal?.Dispose();
        }
        catch (Exception e)
        {
            SetFault(e);
            _journal?.Dispose();
        }
    }

    private long Stage(AppendOp op)
    {
        if (op.CancellationToken.IsCancellationRequested)
        {
            op.Completion.TrySetCanceled(op.CancellationToken);
            return 0;
        }
        var log = op.Log;
        var metadata = log.Metadata;
        if (log.Deleted)
        {
            op.Fail(new ShardNotFoundException(log.Shard));
            return 0;
        }
        if (op.Epoch < metadata.Epoch)
        {
            op.Fail(new ShardNotOwnedException(log.Shard, $"Shard {log.Shard} is owned at epoch {metadata.Epoch}; epoch {op.Epoch} is stale."));
            return 0;
        }
        if (metadata.SealedAtOrdinal.HasValue)
        {
            op.Fail(new ShardSealedException(log.Shard));
            return 0;
        }
        // The space check takes each key's largest UTF-8 length (3 bytes per UTF-16 unit, O(1)) instead of counting it:
        // keys are at most 256 characters, so the bound overshoots by under 512 bytes a record against a reserve of
        // MinFreeDiskBytes, and the exact count is taken once, below, when the frame is written.
        long bytes = 0;
        foreach (var record in op.Records)
        {
            var keyBound = Encoding.UTF8.GetMaxByteCount(record.PartitionKey.Length);
            bytes += op.Key is null ? LogFormat.FrameSize(keyBound, record.Data.Length) : LogFormat.SealedFrameSize(keyBound, record.Data.Length);
        }
        if (!_space.Admits(bytes))
        {
            op.Fail(new StorageFullException(
                $"The shard store's disk has less than {_options.MinFreeDiskBytes / (1024 * 1024)} MiB free; appends resume once space is freed."));
            return 0;
        }
        try
        {
            // Arrival times never decrease within a shard (a clock step back reuses the last one), which lets
            // AT_TIMESTAMP reads binary-search the index.
            var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            var arrival = Math.Max(now, log.WriterLastArrivalUnixMs);
            var first = log.Tail.WrittenNextOrdinal;
            long staged = 0;
            using var cipher = op.Key?.CipherFor(log.Shard.ShardIndex);
            foreach (var record in op.Records)
            {
                var keyBytes = Encoding.UTF8.GetByteCount(record.PartitionKey);
                var size = cipher is null ? LogFormat.FrameSize(keyBytes, record.Data.Length) : LogFormat.SealedFrameSize(keyBytes, record.Data.Length);
                var frame = log.AppendFrame(size, arrival, now, out var ordinal);
                if (cipher is null)
                    LogFormat.WriteFrame(frame, ordinal, arrival, record.PartitionKey, keyBytes, record.Data.Span);
                else
                    LogFormat.WriteSealedFrame(frame, cipher, log.Shard, op.Key!.Version, ordinal, arrival, record.PartitionKey, keyBytes, record.Data.Span);
                staged += size;
            }
            log.WriterLastArrivalUnixMs = arrival;
            op.Result = new AppendResult(first, op.Records.Count, arrival);
            if (!log.InGroup)
            {
                log.InGroup = true;
                _group.Add(log);
            }
            _staged.Add(op);
            return staged;
        }
        catch (Exception e)
        {
            SetFault(e);
            op.Fail(e);
            return 0;
        }
    }

    /// <summary>Writes every staged byte, makes it durable per the policy, publishes it, then acknowledges.</summary>
    private void CommitGroup()
    {
        if (_group.Count == 0 && _staged.Count == 0)
            return;
        var journal = _options.CommitPolicy == CommitPolicy.Durable && _journal is { } j && PendingBytes() <= _options.JournalMaxCommitBytes ? j : null;
        try
        {
            foreach (var log in _group)
            {
                if (journal is not null && log.PendingLength > 0)
                    journal.Add(log.Shard, log.Pending.AsSpan(0, log.PendingLength));
                log.WritePending();
            }
            if (journal is not null)
            {
                journal.Commit();
                foreach (var log in _group)
                {
                    log.PublishCommits();
                    if (!log.Unsynced)
                    {
                        log.Unsynced = true;
                        _unsynced.Add(log);
                    }
                }
            }
            else if (_options.CommitPolicy == CommitPolicy.Durable)
            {
                // The tail's fsync also covers what earlier journaled groups wrote to it (older segments were
                // fsynced when they rolled over), so the shard leaves the unsynced set.
                FsyncTails(_group);
                foreach (var log in _group)
                {
                    log.PublishCommits();
                    log.Checkpoint.Flush(log.WrittenMark());
                    if (log.Unsynced)
                    {
                        log.Unsynced = false;
                        _unsynced.Remove(log);
                    }
                }
            }
            else
            {
                foreach (var log in _group)
                {
                    log.PublishCommits();
                    log.Unsynced = true;
                    _unsynced.Add(log);
                }
            }
            foreach (var op in _staged)
                op.Completion.TrySetResult(op.Result);
            // Tailing readers wake only after the commit is visible to reads (and, when durable, on disk).
            foreach (var log in _group)
                log.Changed.Pulse();
        }
        catch (Exception e)
        {
            SetFault(e);
            journal?.Discard();
            foreach (var op in _staged)
                op.Fail(new IOException("The write failed; the records may or may not be durable.", e));
        }
        finally
        {
            foreach (var log in _group)
                log.InGroup = false;
            _group.Clear();
            _staged.Clear();
        }
        if (journal is not null && Fault is null && journal.Length >= _options.JournalRotateBytes)
            RotateJournal(wait: false);
    }

    private long PendingBytes()
    {
        long bytes = 0;
        foreach (var log in _group)
            bytes += log.PendingLength;
        return bytes;
    }

    /// <summary>A journal generation being retired: its shard files' tails, fsynced off the writer thread.</summary>
    private sealed record Retirement(CommitJournal Journal, List<(ShardLog Log, Segments.Segment Tail, CheckpointValue Mark)> Marks, Task Synced);

    /// <summary>
    /// Starts the next journal generation at once and retires the current one: the shard files written under it are
    /// fsynced on a pool thread (that flushes up to <see cref="ShardLogStoreOptions.JournalRotateBytes"/> of dirty
    /// pages, about 300 ms for 64 MiB here, which on the writer thread would stall every append), and only then
    /// are their checkpoints moved and the old file deleted (<see cref="FinishRetirement"/>). Until that, recovery
    /// replays both generations, oldest first. At most one generation is retiring at a time.
    /// </summary>
    private void RotateJournal(bool wait)
    {
        try
        {
            FinishRetirement(wait: true);
            var old = _journal!;
            var marks = new List<(ShardLog, Segments.Segment, CheckpointValue)>(_unsynced.Count);
            foreach (var log in _unsynced)
            {
                log.Unsynced = false;
                var tail = log.Tail;
                // Older segments of the shard were fsynced when they rolled over; the reference keeps the tail's
                // handle open should retention or a delete drop the segment meanwhile.
                if (!log.Deleted && tail.TryAcquire())
                    marks.Add((log, tail, new CheckpointValue(tail.Index, tail.WrittenLength, tail.WrittenNextOrdinal)));
            }
            _unsynced.Clear();
            _journal = CommitJournal.Start(_options.DataDirectory, old.Generation + 1, deleteOlder: false);
            var synced = marks.Count == 0 ? Task.CompletedTask : Task.Run(() =>
            {
                foreach (var (_, tail, _) in marks)
                    RandomAccess.FlushToDisk(tail.Handle);
            });
            _retiring = new Retirement(old, marks, synced);
            if (wait)
                FinishRetirement(wait: true);
        }
        catch (Exception e)
        {
            SetFault(e);
        }
    }

    /// <summary>Writer only: once a retiring generation's shard files are fsynced, moves their checkpoints and deletes its file.</summary>
    private void FinishRetirement(bool wait)
    {
        var retiring = _retiring;
        if (retiring is null || (!wait && !retiring.Synced.IsCompleted))
            return;
        _retiring = null;
        try
        {
            // A failed fsync is fatal as anywhere else: the kernel may have dropped the pages.
            retiring.Synced.GetAwaiter().GetResult();
            foreach (var (log, _, mark) in retiring.Marks)
            {
                if (!log.Deleted && mark.NextOrdinal > log.Checkpoint.Read().NextOrdinal)
                    log.Checkpoint.Flush(mark);
            }
            retiring.Journal.Retire();
        }
        catch (Exception e)
        {
            SetFault(e);
            retiring.Journal.Dispose();
        }
        finally
        {
            foreach (var (_, tail, _) in retiring.Marks)
                tail.Release();
        }
    }

    /// <summary>
    /// Tests only: stops the loop like a crash would, without fsyncing the unsynced shard files or retiring the
    /// journal. What is acknowledged is durable in the journal or the shard files, not necessarily in both.
    /// </summary>
    public async ValueTask AbandonAsync()
    {
        _abandoned = true;
        await DisposeAsync().ConfigureAwait(false);
    }

    private static void FsyncTails(List<ShardLog> logs)
    {
        if (logs.Count == 1)
        {
            RandomAccess.FlushToDisk(logs[0].Tail.Handle);
            return;
        }
        // Independent files: their fsyncs overlap in the device queue instead of waiting for each other. The
        // writer syncs the first file itself and hands the others to the thread pool. An fsync takes a third of
        // a millisecond or more, so waiting blocks at once instead of spinning (Parallel.ForEach's spin-wait
        // cost a few percent of the CPU of small commits).
        var sync = new ParallelSync(logs.Count - 1);
        for (var i = 1; i < logs.Count; i++)
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Sync.Run(s.Handle), (Sync: sync, logs[i].Tail.Handle), preferLocal: false);
        Exception? first = null;
        try
        {
            RandomAccess.FlushToDisk(logs[0].Tail.Handle);
        }
        catch (Exception e)
        {
            first = e;
        }
        sync.Wait();
        if (first is not null)
            throw first;
        sync.ThrowIfFailed();
    }

    /// <summary>Fsyncs running on pool threads for one commit; the writer waits for all of them.</summary>
    private sealed class ParallelSync(int count)
    {
        private readonly ManualResetEventSlim _done = new(false, spinCount: 0);
        private int _remaining = count;
        private Exception? _error;

        public void Run(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
        {
            try
            {
                RandomAccess.FlushToDisk(handle);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
            }
            finally
            {
                if (Interlocked.Decrement(ref _remaining) == 0)
                    _done.Set();
            }
        }

        // Not disposed: the event never creates a kernel handle (only Wait/Set are used), and disposing it could race
        // with the pool thread that is still returning from Set.
        public void Wait() => _done.Wait();

        public void ThrowIfFailed()
        {
            if (_error is { } e)
                throw e;
        }
    }

    /// <summary>Relaxed policy: fsync everything written since the last sync and move the flushed checkpoints.</summary>
    private void SyncUnsynced()
    {
        var logs = _unsynced.Where(l => !l.Deleted).ToList();
        _unsynced.Clear();
        var marks = logs.Select(l => (l, l.WrittenMark())).ToList();
        FsyncTails(logs);
        foreach (var (log, mark) in marks)
        {
            log.Unsynced = false;
            log.CheckpointDurably(mark);
        }
    }

    private void RunControl(ControlOp op)
    {
        try
        {
            var log = op.Log;
            switch (op.Kind)
            {
                case ControlKind.Flush:
                    if (_unsynced.Count > 0)
                        SyncUnsynced();
                    op.Completion.TrySetResult(null);
                    return;
            }
            if (log is null || log.Deleted)
            {
                op.Fail(new ShardNotFoundException(log?.Shard ?? default));
                return;
            }
            switch (op.Kind)
            {
                case ControlKind.Seal:
                {
                    if (op.Epoch < log.Metadata.Epoch)
                    {
                        op.Fail(new ShardNotOwnedException(log.Shard, $"Shard {log.Shard} is owned at epoch {log.Metadata.Epoch}; epoch {op.Epoch} is stale."));
                        return;
                    }
                    if (_unsynced.Contains(log))
                        SyncUnsynced();
                    var sealedAt = log.Tail.WrittenNextOrdinal;
                    log.UpdateMetadata(m => m.SealedAtOrdinal.HasValue ? m : m with { SealedAtOrdinal = sealedAt, Epoch = Math.Max(m.Epoch, op.Epoch) });
                    op.Completion.TrySetResult(log.GetState());
                    log.Changed.Pulse();
                    return;
                }
                case ControlKind.Roll:
                {
                    var tail = log.Tail;
                    if (tail.WrittenNextOrdinal > tail.BaseOrdinal)
                    {
                        log.RollOver(_options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
                        log.PublishCommits();
                        log.Checkpoint.Flush(log.WrittenMark());
                    }
                    op.Completion.TrySetResult(null);
                    return;
                }
                case ControlKind.Delete:
                {
                    log.Deleted = true;
                    _unsynced.Remove(log);
                    log.Unsynced = false;
                    _onDeleted(log);
                    log.ReleaseAll();
                    ShardTrash.Discard(_options.DataDirectory, log.Directory, _logger);
                    // A shard created again under the same reference must not receive this one's journaled frames.
                    // A faulted store writes no journal (and creates no shard) until it is reopened, whose recovery
                    // skips the frames of shards deleted since.
                    if (Fault is null && _journal is not null && (_journal.Holds(log.Shard) || _retiring is not null))
                        RotateJournal(wait: true);
                    op.Completion.TrySetResult(null);
                    log.Changed.Pulse();
                    return;
                }
                default:
                    throw new InvalidOperationException($"Unknown control operation {op.Kind}.");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            SetFault(e);
            op.Fail(e);
        }
        catch (Exception e)
        {
            op.Fail(e);
        }
    }

    private void SetFault(Exception e)
    {
        if (Interlocked.CompareExchange(ref _fault, e, null) is null)
            _logger.LogCritical(e, "Shard store write failed; the store stops accepting writes");
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopped.Task.ConfigureAwait(false);
    }

    internal enum ControlKind
    {
        Seal,
        Roll,
        Delete,
        Flush,
    }

    private abstract class WriterOp
    {
        public abstract void Fail(Exception e);
    }

    private sealed class AppendOp(ShardLog log, long epoch, IReadOnlyList<AppendRecord> records, StreamDataKey? key, CancellationToken cancellationToken) : WriterOp
    {
        public ShardLog Log { get; } = log;
        public StreamDataKey? Key { get; } = key;
        public long Epoch { get; } = epoch;
        public IReadOnlyList<AppendRecord> Records { get; } = records;
        public CancellationToken CancellationToken { get; } = cancellationToken;
        public AppendResult Result { get; set; }
        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail(Exception e) => Completion.TrySetException(e);
    }

    private sealed class ControlOp(ControlKind kind, ShardLog? log, long epoch) : WriterOp
    {
        public ControlKind Kind { get; } = kind;
        public ShardLog? Log { get; } = log;
        public long Epoch { get; } = epoch;
        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail(Exception e) => Completion.TrySetException(e);
    }
}
