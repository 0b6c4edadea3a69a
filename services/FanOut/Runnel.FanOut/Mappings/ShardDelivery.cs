using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Leases;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.FanOut.Mappings;

/// <summary>What one shard's delivery needs besides the mapping row.</summary>
public sealed record ShardDeliveryContext(
    EventSourceMappingEntity Mapping,
    string StreamName,
    TimeSpan Retention,
    EventSource Source,
    ulong StartOrdinal,
    LeaseKeeper Lease);

/// <summary>
/// Delivers one shard of one mapping while its lease is held. A reader follows the shard's durable end
/// (<see cref="IShardTail"/>) and deals records into ParallelizationFactor lanes by partition key hash, so the records
/// of a key stay in one lane in shard order. Each lane forms batches (BatchSize records, 6 MiB, waiting up to the
/// batching window) and delivers them one after another, with retries, bisection and the on-failure destination. The
/// checkpoint only moves over a prefix of the shard whose records are all finished, after every finished batch; at
/// the end of a sealed shard it becomes SHARD_END, which lets the children start.
/// </summary>
public sealed class ShardDelivery(
    ShardDeliveryContext context,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    HttpClient http,
    FailureDestination destination,
    MappingMetrics metrics,
    MappingOptions options,
    Action<string> reportResult,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>Records read ahead of delivery, over all lanes: enough for every lane's next full batch.</summary>
    private int ReadAheadRecords => Math.Max(1000, context.Mapping.BatchSize * context.Mapping.ParallelizationFactor * 2);

    private const int MaxRecordBytes = 1024 * 1024;

    private readonly object _lock = new();
    private readonly EventSourceMappingEntity _m = context.Mapping;
    private Lane[] _lanes = [];
    private ulong _readPosition;
    private ulong _checkpointedNext;
    private bool _ended;
    private int _queued;
    private readonly SemaphoreSlim _space = new(0, int.MaxValue);
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);

    private sealed class Lane
    {
        public readonly Queue<StoredRecord> Queue = new();
        public long QueuedBytes;
        public DateTimeOffset? WindowStart;
        /// <summary>Lowest ordinal taken from the queue and not finished yet.</summary>
        public ulong? InFlightHead;
        public readonly SemaphoreSlim Signal = new(0, int.MaxValue);
    }

    /// <summary>Returns once the shard is finished (SHARD_END checkpointed); throws when the lease is lost.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        _readPosition = _checkpointedNext = context.StartOrdinal;
        _lanes = [.. Enumerable.Range(0, _m.ParallelizationFactor).Select(_ => new Lane())];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var lanes = _lanes.Select(l => Task.Run(() => RunLaneAsync(l, stop.Token), stop.Token)).ToList();
        var reader = Task.Run(() => ReadAsync(stop.Token), stop.Token);
        var all = lanes.Append(reader).ToList();
        // The first failure (lease lost, fatal read error) stops the others.
        while (all.Count > 0)
        {
            var done = await Task.WhenAny(all).ConfigureAwait(false);
            all.Remove(done);
            if (done.IsFaulted || done.IsCanceled)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                try
                {
                    await Task.WhenAll(all).ConfigureAwait(false);
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                }
                await done.ConfigureAwait(false);
            }
        }
        await context.Lease.CheckpointAsync(MappingLeases.ShardEnd, ct).ConfigureAwait(false);
        logger.LogInformation("Mapping {Mapping} finished {Shard}", _m.Uuid, context.Source.ShardId);
    }

    private int LaneOf(string partitionKey)
    {
        if (_lanes.Length == 1)
            return 0;
        Span<byte> hash = stackalloc byte[16];
        MD5.HashData(Encoding.UTF8.GetBytes(partitionKey), hash);
        return (int)(BitConverter.ToUInt32(hash) % (uint)_lanes.Length);
    }

    private async Task ReadAsync(CancellationToken ct)
    {
        var shard = new ShardRef(_m.StreamId, context.Source.ShardIndex);
        var position = context.StartOrdinal;
        var failures = 0;
        while (true)
        {
            var (node, store) = await LocateAsync(shard, ct).ConfigureAwait(false);
            try
            {
                var tail = store as IShardTail ?? throw new InvalidOperationException($"The store of node {node} cannot be tailed.");
                await foreach (var tip in tail.WatchAsync(shard, position, ct).ConfigureAwait(false))
                {
                    failures = 0;
                    while (position < tip.NextOrdinal || tip.Sealed)
                    {
                        while (Volatile.Read(ref _queued) >= ReadAheadRecords)
                            await _space.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                        var read = await store.ReadAsync(shard, new ReadRequest(position, 10_000, LambdaEvent.MaxPayloadBytes), ct).ConfigureAwait(false);
                        lock (_lock)
                        {
                            var now = time.GetUtcNow();
                            foreach (var r in read.Records)
                            {
                                var lane = _lanes[LaneOf(r.PartitionKey)];
                                if (lane.Queue.Count == 0)
                                    lane.WindowStart = now;
                                lane.Queue.Enqueue(r);
                                lane.QueuedBytes += LambdaEvent.EstimatedSize(r);
                            }
                            _queued += read.Records.Count;
                            _readPosition = read.NextOrdinal;
                            if (read.EndOfShard)
                                _ended = true;
                        }
                        foreach (var lane in _lanes)
                            lane.Signal.Release();
                        position = read.NextOrdinal;
                        if (read.EndOfShard)
                            return;
                        if (read.Records.Count == 0)
                            break;
                    }
                }
                throw new ShardStoreUnavailableException(node, "The tail stream ended.");
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is ShardStoreUnavailableException or ShardNotOwnedException or IOException or HttpRequestException)
            {
                failures++;
                logger.LogInformation("Mapping {Mapping}: tail of {Shard} interrupted ({Error}); re-resolving the owner", _m.Uuid, context.Source.ShardId, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * failures)), time, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<(string, IShardStore)> LocateAsync(ShardRef shard, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var node = await db.ShardPlacements.AsNoTracking()
            .Where(p => p.StreamId == shard.StreamId && p.ShardIndex == shard.ShardIndex)
            .Select(p => p.NodeId).FirstOrDefaultAsync(ct).ConfigureAwait(false)
            ?? throw new ShardNotFoundException(shard);
        return (node, locator.ForNode(node));
    }

    private async Task RunLaneAsync(Lane lane, CancellationToken ct)
    {
        var window = TimeSpan.FromSeconds(_m.MaximumBatchingWindowInSeconds);
        while (true)
        {
            List<StoredRecord>? batch = null;
            TimeSpan wait;
            lock (_lock)
            {
                var full = lane.Queue.Count >= _m.BatchSize || lane.QueuedBytes >= LambdaEvent.MaxPayloadBytes;
                var due = lane.WindowStart is { } start ? start + window - time.GetUtcNow() : window;
                if (lane.Queue.Count > 0 && (full || _ended || due <= TimeSpan.Zero))
                {
                    batch = [];
                    long bytes = 0;
                    while (lane.Queue.Count > 0 && batch.Count < _m.BatchSize)
                    {
                        var size = LambdaEvent.EstimatedSize(lane.Queue.Peek());
                        if (batch.Count > 0 && bytes + size > LambdaEvent.MaxPayloadBytes)
                            break;
                        var r = lane.Queue.Dequeue();
                        batch.Add(r);
                        bytes += size;
                    }
                    lane.QueuedBytes -= bytes;
                    lane.InFlightHead = batch[0].Ordinal;
                    lane.WindowStart = lane.Queue.Count > 0 ? time.GetUtcNow() : null;
                    _queued -= batch.Count;
                }
                else if (lane.Queue.Count == 0 && _ended)
                {
                    return;
                }
                wait = lane.Queue.Count == 0 ? TimeSpan.FromSeconds(5) : due;
            }
            if (batch is null)
            {
                await lane.Signal.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.FromMilliseconds(1), ct).ConfigureAwait(false);
                continue;
            }
            _space.Release();
            await DeliverAsync(batch, lane, ct).ConfigureAwait(false);
            lock (_lock)
                lane.InFlightHead = null;
            // The batch is finished: its checkpoint is written even when delivery is being stopped (disable, update,
            // clean shutdown), or the next holder would deliver it again. A lost lease still refuses the write.
            using (var bounded = new CancellationTokenSource(CheckpointTimeout))
                await AdvanceCheckpointAsync(bounded.Token).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>How long the checkpoint of a finished batch may take once delivery is being stopped.</summary>
    private static readonly TimeSpan CheckpointTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Moves the checkpoint to just before the lowest record not finished in any lane.</summary>
    private async Task AdvanceCheckpointAsync(CancellationToken ct)
    {
        await _checkpointGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ulong safe;
            lock (_lock)
            {
                safe = _readPosition;
                foreach (var lane in _lanes)
                {
                    if (lane.InFlightHead is { } h)
                        safe = Math.Min(safe, h);
                    if (lane.Queue.Count > 0)
                        safe = Math.Min(safe, lane.Queue.Peek().Ordinal);
                }
            }
            if (safe <= _checkpointedNext)
                return;
            await context.Lease.CheckpointAsync(new SequenceNumber(context.Source.ShardIndex, safe - 1).ToString(), ct).ConfigureAwait(false);
            _checkpointedNext = safe;
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    private sealed record Part(List<StoredRecord> Records, int Attempts, int Invocations);

    /// <summary>
    /// Delivers a batch until every record is accepted or discarded. A failed part is bisected when configured (which
    /// does not count as a retry, as in Lambda), otherwise retried with exponential backoff; a part past its retries or
    /// age goes to the on-failure destination. Parts finish in order, so the lane keeps per-key order.
    /// </summary>
    private async Task DeliverAsync(List<StoredRecord> batch, Lane lane, CancellationToken ct)
    {
        var parts = new LinkedList<Part>();
        parts.AddFirst(new Part(batch, 0, 0));
        InvokeOutcome? last = null;
        while (parts.First is { } node)
        {
            var part = node.Value;
            lock (_lock)
                lane.InFlightHead = part.Records[0].Ordinal;
            var expired = ExpiredPrefix(part.Records);
            if (expired > 0)
            {
                // Records past the age limit are discarded before the invocation, the younger rest is delivered.
                await DiscardAsync(part with { Records = part.Records[..expired] }, "RecordAgeExceeded", last, ct).ConfigureAwait(false);
                parts.RemoveFirst();
                if (expired < part.Records.Count)
                    parts.AddFirst(part with { Records = part.Records[expired..] });
                continue;
            }
            var outcome = await InvokeAsync(part.Records, ct).ConfigureAwait(false);
            last = outcome;
            if (outcome.Succeeded)
            {
                var newest = part.Records[^1].ArrivalUnixMs;
                metrics.Delivered(_m.Uuid, part.Records.Count, time.GetUtcNow().ToUnixTimeMilliseconds() - newest);
                reportResult("OK");
                parts.RemoveFirst();
                continue;
            }
            metrics.Failed(_m.Uuid);
            reportResult("PROBLEM: Function call failed");
            var failing = part.Records;
            if (outcome.FirstFailedSequenceNumber is { } first && SequenceNumber.TryParse(first, out var seq))
            {
                var accepted = failing.TakeWhile(r => r.Ordinal < seq.Ordinal).Count();
                if (accepted > 0)
                    metrics.Delivered(_m.Uuid, accepted, time.GetUtcNow().ToUnixTimeMilliseconds() - failing[accepted - 1].ArrivalUnixMs);
                failing = failing.Skip(accepted).ToList();
            }
            logger.LogInformation("Mapping {Mapping} on {Shard}: invocation of {Count} records failed ({Error})", _m.Uuid, context.Source.ShardId, part.Records.Count, outcome.Error);
            parts.RemoveFirst();
            if (_m.BisectBatchOnFunctionError && failing.Count > 1)
            {
                var half = failing.Count / 2;
                parts.AddFirst(new Part(failing[half..], part.Attempts, 0));
                parts.AddFirst(new Part(failing[..half], part.Attempts, 0));
                continue;
            }
            if (_m.MaximumRetryAttempts >= 0 && part.Attempts >= _m.MaximumRetryAttempts)
            {
                await DiscardAsync(new Part(failing, part.Attempts, part.Invocations + 1), "RetryAttemptsExhausted", outcome, ct).ConfigureAwait(false);
                continue;
            }
            metrics.Retried(_m.Uuid);
            parts.AddFirst(new Part(failing, part.Attempts + 1, part.Invocations + 1));
            var delay = Math.Min((double)options.RetryMaxMilliseconds, options.RetryBaseMilliseconds * Math.Pow(2, part.Attempts));
            if (delay > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(delay), time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// How many records from the start of the part are older than MaximumRecordAgeInSeconds, or than the stream's
    /// retention when there is no limit (the record is gone then). Arrival times grow along a shard, so the expired
    /// records are a prefix.
    /// </summary>
    private int ExpiredPrefix(List<StoredRecord> records)
    {
        var limit = _m.MaximumRecordAgeInSeconds >= 0 ? TimeSpan.FromSeconds(_m.MaximumRecordAgeInSeconds) : context.Retention;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        return records.TakeWhile(r => now - r.ArrivalUnixMs > limit.TotalMilliseconds).Count();
    }

    private async Task<InvokeOutcome> InvokeAsync(List<StoredRecord> records, CancellationToken ct)
    {
        var body = LambdaEvent.Build(records, context.Source);
        using var request = new HttpRequestMessage(HttpMethod.Post, _m.FunctionName) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("X-Runnel-Event-Source-Mapping", _m.Uuid);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.InvokeTimeoutSeconds));
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is < 200 or > 299)
                return InvokeOutcome.Failure(status, $"The function answered HTTP {status}.");
            if (!_m.ReportBatchItemFailures)
                return InvokeOutcome.Success(status);
            var answer = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            return LambdaEvent.ReadBatchResponse(answer, status, records, context.Source.ShardIndex);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return InvokeOutcome.Failure(null, $"The function did not answer within {options.InvokeTimeoutSeconds} s.");
        }
        catch (HttpRequestException e)
        {
            return InvokeOutcome.Failure(null, $"The function is unreachable: {e.Message}");
        }
    }

    private async Task DiscardAsync(Part part, string condition, InvokeOutcome? last, CancellationToken ct)
    {
        metrics.Discarded(_m.Uuid, condition);
        var first = new SequenceNumber(context.Source.ShardIndex, part.Records[0].Ordinal);
        var lastSeq = new SequenceNumber(context.Source.ShardIndex, part.Records[^1].Ordinal);
        if (_m.OnFailureDestination is not { } target)
        {
            logger.LogWarning("Mapping {Mapping} discarded records {First}..{Last} of {Shard} ({Condition}); it has no on-failure destination",
                _m.Uuid, first, lastSeq, context.Source.ShardId, condition);
            return;
        }
        var partitionKey = _m.Uuid;
        var record = LambdaEvent.FailureRecord(part.Records, context.Source, _m.FunctionName, condition, part.Invocations, last,
            time.GetUtcNow(), MaxRecordBytes - Encoding.UTF8.GetByteCount(partitionKey));
        // Delivery moves past the batch only once its record is stored: nothing is dropped while the destination is down.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var seq = await destination.AppendAsync(target, partitionKey, record, ct).ConfigureAwait(false);
                logger.LogWarning("Mapping {Mapping} sent records {First}..{Last} of {Shard} ({Condition}) to {Destination} as {Sequence}",
                    _m.Uuid, first, lastSeq, context.Source.ShardId, condition, target, seq);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not LeaseLostException)
            {
                reportResult("PROBLEM: On-failure destination unavailable");
                logger.LogWarning(e, "Mapping {Mapping}: writing to the on-failure destination {Destination} failed", _m.Uuid, target);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(30_000, 200 * Math.Pow(2, Math.Min(attempt, 10)))), time, ct).ConfigureAwait(false);
            }
        }
    }
}
