using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Runnel.Core.Storage;
using Runnel.ShardStore.Engine.Checkpoints;
using Runnel.ShardStore.Engine.Journal;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// Durable per-shard logs on the local file system: the in-process <see cref="IShardStore"/> of a ShardStore node.
/// Shards load lazily (recovery runs on first use), all writes go through one group-commit writer, reads run
/// concurrently on the callers' threads. Epochs are fenced locally: the highest epoch a shard was opened or written
/// with is persisted, and a lower one is refused. Whether that epoch is the placement's current one is the node's
/// concern (a fencing decorator), not the engine's.
/// </summary>
public sealed class ShardLogStore : IShardStore, IShardTail, IAsyncDisposable
{
    /// <summary>Largest record data the engine accepts (the highest limit a stream can be configured with).</summary>
    public const int MaxRecordDataBytes = 10 * 1024 * 1024;

    private readonly ShardLogStoreOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ShardRef, ShardLog> _shards = new();
    private readonly Lock _loadLock = new();
    private readonly LogWriter _writer;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _background;
    private int _disposed;

    public ShardLogStore(ShardLogStoreOptions options, ILogger<ShardLogStore>? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DataDirectory);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SegmentSizeBytes, 4096);
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Directory.CreateDirectory(options.DataDirectory);
        ShardTrash.EmptyLeftovers(options.DataDirectory, _logger);
        var journal = RecoverJournal();
        _writer = new LogWriter(options, _logger, log => _shards.TryRemove(new KeyValuePair<ShardRef, ShardLog>(log.Shard, log)), journal);
        _background = Task.Run(() => RunBackgroundAsync(_stopping.Token));
    }

    public ShardLogStoreOptions Options => _options;

    /// <summary>Non-null once a write failed; the store then refuses writes until it is reopened.</summary>
    public Exception? Fault => _writer.Fault;

    /// <summary>True while appends are refused because the data directory's file system is nearly full.</summary>
    public bool LowOnSpace => _writer.LowOnSpace;

    public Task OpenShardAsync(ShardRef shard, long epoch, ShardSettings settings, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        // A faulted store creates no shard: its journal may still hold frames of a deleted shard of the same reference.
        if (_writer.Fault is { } fault)
            throw new IOException("The shard store stopped after a write failure; reopen it to recover.", fault);
        var retentionMs = (long)settings.Retention.TotalMilliseconds;
        ShardLog? log;
        lock (_loadLock)
        {
            log = GetLoaded(shard);
            if (log is null)
            {
                var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
                log = ShardLog.Create(shard, ShardLog.DirectoryFor(_options.DataDirectory, shard), _options, new ShardMetadata(epoch, null, retentionMs, now));
                _shards[shard] = log;
                return Task.CompletedTask;
            }
        }
        log.UpdateMetadata(m =>
        {
            if (epoch < m.Epoch)
                throw Stale(shard, m.Epoch, epoch);
            return m with { Epoch = epoch, RetentionMs = retentionMs };
        });
        return Task.CompletedTask;
    }

    public Task<AppendResult> AppendAsync(ShardRef shard, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
            throw new ArgumentException("An append needs at least one record.", nameof(records));
        foreach (var record in records)
        {
            if (record.PartitionKey is null || Encoding.UTF8.GetByteCount(record.PartitionKey) > ushort.MaxValue)
                throw new ArgumentException("A partition key must be present and at most 65,535 UTF-8 bytes.", nameof(records));
            if (record.Data.Length > MaxRecordDataBytes)
                throw new ArgumentException($"A record holds at most {MaxRecordDataBytes} bytes of data.", nameof(records));
        }
        var log = GetRequired(shard);
        var metadata = log.Metadata;
        if (epoch < metadata.Epoch)
            throw Stale(shard, metadata.Epoch, epoch);
        if (epoch > metadata.Epoch)
        {
            // A higher epoch is a newer owner's claim: record it durably before the first write made under it.
            log.UpdateMetadata(m => epoch > m.Epoch ? m with { Epoch = epoch } : m);
        }
        return _writer.AppendAsync(log, epoch, records, cancellationToken);
    }

    public Task<ReadResult> ReadAsync(ShardRef shard, ReadRequest request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var log = GetRequired(shard);
        return Task.FromResult(log.Read(request, _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds()));
    }

    public Task<ShardState> GetStateAsync(ShardRef shard, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return Task.FromResult(GetRequired(shard).GetState());
    }

    public Task<ulong> FindOrdinalAsync(ShardRef shard, long timestampUnixMs, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return Task.FromResult(GetRequired(shard).FindOrdinal(timestampUnixMs));
    }

    public async Task<ShardState> SealShardAsync(ShardRef shard, long epoch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var log = GetRequired(shard);
        if (log.Metadata.SealedAtOrdinal.HasValue)
        {
            if (epoch < log.Metadata.Epoch)
                throw Stale(shard, log.Metadata.Epoch, epoch);
            return log.GetState();
        }
        return (ShardState)(await _writer.ControlAsync(LogWriter.ControlKind.Seal, log, epoch, cancellationToken).ConfigureAwait(false))!;
    }

    public Task UpdateSettingsAsync(ShardRef shard, ShardSettings settings, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var retentionMs = (long)settings.Retention.TotalMilliseconds;
        GetRequired(shard).UpdateMetadata(m => m with { RetentionMs = retentionMs });
        return Task.CompletedTask;
    }

    public async Task DeleteShardAsync(ShardRef shard, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ShardLog? log;
        lock (_loadLock)
            log = GetLoaded(shard);
        if (log is null)
            return;
        try
        {
            await _writer.ControlAsync(LogWriter.ControlKind.Delete, log, 0, cancellationToken).ConfigureAwait(false);
        }
        catch (ShardNotFoundException)
        {
            // Deleted concurrently: the outcome is the same.
        }
    }

    /// <summary>
    /// Woken by the group-commit writer after each commit of the shard (and by seal and delete); between changes it
    /// waits on a task, never on a timer.
    /// </summary>
    public async IAsyncEnumerable<TailPosition> WatchAsync(ShardRef shard, ulong fromOrdinal, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var log = GetRequired(shard);
        var reported = fromOrdinal;
        while (true)
        {
            var changed = log.Changed.Next;
            if (log.Deleted || _disposed != 0)
                throw new ShardNotFoundException(shard);
            var next = log.CommittedNextOrdinal;
            var isSealed = log.Metadata.SealedAtOrdinal.HasValue;
            if (next > reported || isSealed)
            {
                reported = next;
                yield return new TailPosition(next, isSealed);
                if (isSealed)
                    yield break;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The shard's flushed checkpoint: every record below its NextOrdinal is on disk. Null if the shard does not exist.</summary>
    public CheckpointValue? GetCheckpoint(ShardRef shard)
    {
        lock (_loadLock)
            return GetLoaded(shard)?.Checkpoint.Read();
    }

    /// <summary>Shards present in the data directory.</summary>
    public IReadOnlyList<ShardRef> ListShards()
    {
        var result = new List<ShardRef>();
        if (!Directory.Exists(_options.DataDirectory))
            return result;
        foreach (var streamDir in Directory.EnumerateDirectories(_options.DataDirectory))
        {
            if (!long.TryParse(Path.GetFileName(streamDir), NumberStyles.None, CultureInfo.InvariantCulture, out var streamId))
                continue;
            foreach (var shardDir in Directory.EnumerateDirectories(streamDir))
            {
                if (int.TryParse(Path.GetFileName(shardDir), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    && File.Exists(Path.Combine(shardDir, LogFormat.MetadataFileName)))
                    result.Add(new ShardRef(streamId, index));
            }
        }
        return result;
    }

    /// <summary>
    /// Deletes every whole segment whose newest record is older than its shard's retention, which moves the trim
    /// ordinal forward. A tail segment that has expired is first closed, so an idle shard's old data goes too.
    /// </summary>
    public async Task RunRetentionAsync(CancellationToken cancellationToken)
    {
        var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var shard in ListShards())
        {
            cancellationToken.ThrowIfCancellationRequested();
            ShardLog? log;
            try
            {
                log = GetRequired(shard);
            }
            catch (Exception e) when (e is ShardNotFoundException or IOException)
            {
                _logger.LogWarning(e, "Retention skipped shard {Shard}", shard);
                continue;
            }
            var retentionMs = log.Metadata.RetentionMs;
            if (retentionMs <= 0)
                continue;
            var cutoff = now - retentionMs;
            var tail = log.Tail.Commit;
            if (!tail.IsEmpty(log.Tail.BaseOrdinal) && tail.LastArrivalUnixMs < cutoff)
            {
                try
                {
                    await _writer.ControlAsync(LogWriter.ControlKind.Roll, log, 0, cancellationToken).ConfigureAwait(false);
                }
                catch (ShardNotFoundException)
                {
                    continue;
                }
            }
            var removed = log.DetachExpired(cutoff);
            if (removed.Count > 0)
            {
                // Unlinked on the trash's own thread: ~50 ms per 64 MiB segment would hold this pool worker.
                ShardTrash.DiscardFiles(_options.DataDirectory, log.Directory, removed.SelectMany(s => new[] { s.FilePath, s.IndexFilePath }), _logger);
                foreach (var segment in removed)
                    segment.Release();
                _logger.LogInformation("Retention removed {Count} segments of shard {Shard}; trim ordinal is now {Trim}", removed.Count, shard, log.TrimOrdinal);
            }
        }
    }

    /// <summary>
    /// Replays what journals left by an earlier run hold beyond the shard files (a crash loses the files' unsynced
    /// tails), makes the result durable, and starts a new journal generation (or, with the journal off, deletes them).
    /// Shards named in a journal are loaded eagerly for this; a shard deleted since is skipped.
    /// </summary>
    private CommitJournal? RecoverJournal()
    {
        var (entries, lastGeneration) = CommitJournal.Recover(_options.DataDirectory);
        if (entries.Count > 0)
        {
            var now = _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var group in entries.GroupBy(e => e.Shard))
            {
                ShardLog? log;
                lock (_loadLock)
                    log = GetLoaded(group.Key);
                if (log is null)
                    continue;
                var appended = 0;
                foreach (var entry in group)
                    appended += log.Replay(entry.Frames, now);
                if (appended == 0)
                    continue;
                log.WritePending();
                var mark = log.WrittenMark();
                RandomAccess.FlushToDisk(log.Tail.Handle);
                log.PublishCommits();
                log.CheckpointDurably(mark);
                _logger.LogWarning("Recovered {Count} records of shard {Shard} from the commit journal", appended, group.Key);
            }
        }
        if (_options.CommitPolicy == CommitPolicy.Durable && _options.JournalMaxCommitBytes > 0)
            return CommitJournal.Start(_options.DataDirectory, lastGeneration + 1, deleteOlder: true);
        CommitJournal.DeleteAll(_options.DataDirectory);
        return null;
    }

    /// <summary>Tests only: stops like a crash, leaving the journal and the shard files' unsynced tails as they are.</summary>
    internal ValueTask AbandonAsync() => CloseAsync(crash: true);

    private ShardLog? GetLoaded(ShardRef shard)
    {
        if (_shards.TryGetValue(shard, out var log))
            return log;
        log = ShardLog.Load(shard, ShardLog.DirectoryFor(_options.DataDirectory, shard), _options, _logger);
        if (log is not null)
            _shards[shard] = log;
        return log;
    }

    private ShardLog GetRequired(ShardRef shard)
    {
        if (_shards.TryGetValue(shard, out var log))
            return log;
        lock (_loadLock)
            return GetLoaded(shard) ?? throw new ShardNotFoundException(shard);
    }

    private static ShardNotOwnedException Stale(ShardRef shard, long current, long requested) =>
        new(shard, $"Shard {shard} is owned at epoch {current}; epoch {requested} is stale.");

    private async Task RunBackgroundAsync(CancellationToken cancellationToken)
    {
        var retentionEvery = _options.RetentionCheckInterval;
        var flushEvery = _options.CommitPolicy == CommitPolicy.Relaxed ? _options.RelaxedFlushInterval : Timeout.InfiniteTimeSpan;
        if (retentionEvery <= TimeSpan.Zero && flushEvery == Timeout.InfiniteTimeSpan)
            return;
        var time = _options.TimeProvider;
        var nextRetention = retentionEvery > TimeSpan.Zero ? time.GetUtcNow() + retentionEvery : DateTimeOffset.MaxValue;
        var nextFlush = flushEvery > TimeSpan.Zero ? time.GetUtcNow() + flushEvery : DateTimeOffset.MaxValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            var wake = nextRetention < nextFlush ? nextRetention : nextFlush;
            var delay = wake - time.GetUtcNow();
            try
            {
                if (delay > TimeSpan.Zero)
                    await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                var now = time.GetUtcNow();
                if (now >= nextFlush)
                {
                    nextFlush = now + flushEvery;
                    await _writer.ControlAsync(LogWriter.ControlKind.Flush, null, 0, cancellationToken).ConfigureAwait(false);
                }
                if (now >= nextRetention)
                {
                    nextRetention = now + retentionEvery;
                    await RunRetentionAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Shard store background pass failed");
            }
        }
    }

    public ValueTask DisposeAsync() => CloseAsync(crash: false);

    private async ValueTask CloseAsync(bool crash)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _background.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        if (crash)
            await _writer.AbandonAsync().ConfigureAwait(false);
        else
            await _writer.DisposeAsync().ConfigureAwait(false);
        foreach (var log in _shards.Values)
        {
            log.Changed.Pulse();
            try
            {
                if (!crash)
                    log.Checkpoint.FsyncFile();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
            }
            log.ReleaseAll();
        }
        _shards.Clear();
        _stopping.Dispose();
    }
}
