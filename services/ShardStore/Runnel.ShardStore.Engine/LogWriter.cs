using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine.Checkpoints;
using Runnel.ShardStore.Engine.Segments;

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
/// </summary>
internal sealed class LogWriter : IAsyncDisposable
{
    private readonly Channel<WriterOp> _queue;
    private readonly ShardLogStoreOptions _options;
    private readonly ILogger _logger;
    private readonly Task _loop;
    private readonly List<ShardLog> _group = [];
    private readonly List<AppendOp> _staged = [];
    private readonly HashSet<ShardLog> _unsynced = [];
    private readonly Action<ShardLog> _onDeleted;
    private Exception? _fault;

    public LogWriter(ShardLogStoreOptions options, ILogger logger, Action<ShardLog> onDeleted)
    {
        _options = options;
        _logger = logger;
        _onDeleted = onDeleted;
        _queue = Channel.CreateBounded<WriterOp>(new BoundedChannelOptions(options.MaxQueuedAppends)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    public Exception? Fault => Volatile.Read(ref _fault);

    public async Task<AppendResult> AppendAsync(ShardLog log, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken cancellationToken)
    {
        ThrowIfFaulted();
        var op = new AppendOp(log, epoch, records, cancellationToken);
        await _queue.Writer.WriteAsync(op, cancellationToken).ConfigureAwait(false);
        return await op.Completion.Task.ConfigureAwait(false);
    }

    public async Task<object?> ControlAsync(ControlKind kind, ShardLog? log, long epoch, CancellationToken cancellationToken)
    {
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

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var started = Stopwatch.GetTimestamp();
            long bytes = 0;
            while (bytes < _options.MaxCommitBytes
                && Stopwatch.GetElapsedTime(started) < _options.MaxCommitDelay
                && reader.TryRead(out var op))
            {
                if (Fault is { } fault)
                {
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
        }
        CommitGroup();
        if (Fault is null && _unsynced.Count > 0)
            SyncUnsynced();
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
        try
        {
            // Arrival times never decrease within a shard (a clock step back reuses the last one), which lets
            // AT_TIMESTAMP reads binary-search the index.
            var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            var arrival = Math.Max(now, log.WriterLastArrivalUnixMs);
            var tail = log.Tail;
            var first = tail.WrittenNextOrdinal;
            long staged = 0;
            foreach (var record in op.Records)
            {
                var keyBytes = Encoding.UTF8.GetByteCount(record.PartitionKey);
                var size = LogFormat.FrameSize(keyBytes, record.Data.Length);
                var position = tail.WrittenLength + log.PendingLength;
                if (position + size > _options.SegmentSizeBytes && tail.WrittenNextOrdinal > tail.BaseOrdinal)
                {
                    tail = log.RollOver(now);
                    position = tail.WrittenLength;
                }
                var ordinal = tail.WrittenNextOrdinal;
                LogFormat.WriteFrame(log.ReservePending(size), ordinal, arrival, record.PartitionKey, keyBytes, record.Data.Span);
                if (tail.LastIndexedPosition < 0 || position - tail.LastIndexedPosition >= _options.IndexIntervalBytes)
                {
                    tail.AddIndexEntry(new IndexEntry(ordinal, arrival, position));
                    tail.LastIndexedPosition = position;
                }
                if (tail.WrittenNextOrdinal == tail.BaseOrdinal)
                    tail.WrittenFirstArrivalUnixMs = arrival;
                tail.WrittenNextOrdinal = ordinal + 1;
                tail.WrittenLastArrivalUnixMs = arrival;
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
        try
        {
            foreach (var log in _group)
                log.WritePending();
            if (_options.CommitPolicy == CommitPolicy.Durable)
            {
                FsyncTails(_group);
                foreach (var log in _group)
                {
                    log.PublishCommits();
                    var tail = log.Tail;
                    log.Checkpoint.Flush(new CheckpointValue(tail.Index, tail.WrittenLength, tail.WrittenNextOrdinal));
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
        var marks = logs.Select(l => (l, new CheckpointValue(l.Tail.Index, l.Tail.WrittenLength, l.Tail.WrittenNextOrdinal))).ToList();
        FsyncTails(logs);
        foreach (var (log, mark) in marks)
        {
            log.Unsynced = false;
            log.Checkpoint.Flush(mark);
            log.Checkpoint.FsyncFile();
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
                        var newTail = log.Tail;
                        log.Checkpoint.Flush(new CheckpointValue(newTail.Index, newTail.WrittenLength, newTail.WrittenNextOrdinal));
                    }
                    op.Completion.TrySetResult(null);
                    return;
                }
                case ControlKind.Delete:
                {
                    log.Deleted = true;
                    _unsynced.Remove(log);
                    _onDeleted(log);
                    log.ReleaseAll();
                    if (Directory.Exists(log.Directory))
                        Directory.Delete(log.Directory, recursive: true);
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
        await _loop.ConfigureAwait(false);
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

    private sealed class AppendOp(ShardLog log, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken cancellationToken) : WriterOp
    {
        public ShardLog Log { get; } = log;
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
