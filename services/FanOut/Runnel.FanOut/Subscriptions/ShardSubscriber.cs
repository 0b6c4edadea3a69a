using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Hashing;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Core.Wire;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.EventStream;
using Runnel.Metadata;
using Runnel.ShardStore.Client;

namespace Runnel.FanOut.Subscriptions;

/// <summary>Where a SubscribeToShard starts: TRIM_HORIZON, LATEST, AT/AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP.</summary>
public sealed record StartingPosition(string? Type, string? SequenceNumber, DateTimeOffset? Timestamp);

public sealed record SubscribeRequest(string? ConsumerArn, string? ShardId, StartingPosition? StartingPosition);

/// <summary>
/// Runs SubscribeToShard: validates the request (errors before the stream starts are ordinary AWS errors), takes the
/// (consumer, shard) slot, answers 200 with an event stream (initial-response, then SubscribeToShardEvent messages)
/// and pushes records as the shard's owner reports them durable (<see cref="IShardTail"/>), paced by the pair's
/// budget. The stream ends after <see cref="FanOutOptions.SubscriptionSeconds"/>, at the end of a sealed shard
/// (with ChildShards), or with an error event (takeover, deregistration, failure).
/// </summary>
public sealed class ShardSubscriber(
    ConsumerRegistry registry,
    SubscriptionManager subscriptions,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IOptions<FanOutOptions> options,
    TimeProvider time,
    ILogger<ShardSubscriber> logger)
{
    public const string EventStreamContentType = "application/vnd.amazon.eventstream";

    /// <summary>Per event: at most 10,000 records and about 1 MiB, the largest GetRecords-sized batch AWS pushes.</summary>
    private const int MaxRecordsPerEvent = 10_000;
    private const int MaxBytesPerEvent = 1024 * 1024;

    /// <summary>How long a tail may be quiet before the shard's placement is re-read, to follow an owner move.</summary>
    public static readonly TimeSpan PlacementCheckInterval = TimeSpan.FromSeconds(5);

    private static readonly string[] Types = ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"];

    private readonly FanOutOptions _options = options.Value;

    /// <summary>Event payloads are in <paramref name="format"/>, the request's (the AWS SDK for Java speaks CBOR by default).</summary>
    public async Task SubscribeAsync(SubscribeRequest request, HttpResponse response, WireFormat format, CancellationToken aborted)
    {
        var violations = new List<string>();
        if (request.ConsumerArn is null)
            violations.Add("Value null at 'consumerARN' failed to satisfy constraint: Member must not be null");
        if (request.ShardId is null)
            violations.Add("Value null at 'shardId' failed to satisfy constraint: Member must not be null");
        if (request.StartingPosition?.Type is null)
            violations.Add("Value null at 'startingPosition.type' failed to satisfy constraint: Member must not be null");
        else if (!Types.Contains(request.StartingPosition.Type))
            violations.Add($"Value '{request.StartingPosition.Type}' at 'startingPosition.type' failed to satisfy constraint: Member must satisfy enum value set: [{string.Join(", ", Types)}]");
        if (violations.Count > 0)
            throw KinesisException.Validation(violations);
        var consumer = await registry.FindByArnAsync(request.ConsumerArn!, aborted).ConfigureAwait(false);
        if (consumer.Status != ConsumerStatuses.Active)
            throw KinesisException.ResourceInUse($"Consumer {consumer.Arn} is not ACTIVE.");
        if (!ShardIds.TryParse(request.ShardId, out var index))
            throw KinesisException.ResourceNotFound($"Shard {request.ShardId} in stream {consumer.StreamName} under account {_options.AccountId} does not exist");
        var canonical = ShardIds.Format(index);
        var shard = new ShardRef(consumer.StreamId, index);
        var where = await LocateAsync(shard, aborted).ConfigureAwait(false)
            ?? throw KinesisException.ResourceNotFound($"Shard {canonical} in stream {consumer.StreamName} under account {_options.AccountId} does not exist");
        var position = await ResolveAsync(where, request.StartingPosition!, canonical, aborted).ConfigureAwait(false);

        await using var lease = await subscriptions.AcquireAsync(consumer.Arn, index, canonical, aborted).ConfigureAwait(false);
        using var expiry = new CancellationTokenSource(TimeSpan.FromSeconds(_options.SubscriptionSeconds), time);
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(aborted, lease.Ended, expiry.Token);
        var ct = lifetime.Token;

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = EventStreamContentType;
        await WriteAsync(response, Event("initial-response", EmptyObject(format), format), aborted).ConfigureAwait(false);
        try
        {
            await PumpAsync(consumer, where, position, response, format, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested && !aborted.IsCancellationRequested)
        {
            if (lease.Reason is { } reason)
                await WriteAsync(response, Exception(reason.Type, reason.Message, format), aborted).ConfigureAwait(false);
            // Otherwise the subscription's lifetime ended: the stream just ends, as AWS's does.
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
        }
        catch (KinesisException e)
        {
            await WriteAsync(response, Exception(e.Type, e.Message, format), aborted).ConfigureAwait(false);
        }
        catch (Exception e) when (!aborted.IsCancellationRequested)
        {
            logger.LogError(e, "Subscription of {Consumer} to {Shard} failed", consumer.Arn, shard);
            await WriteAsync(response, Exception("InternalFailureException", "Internal service failure.", format), aborted).ConfigureAwait(false);
        }
    }

    private async Task PumpAsync(ConsumerInfo consumer, ShardWhere where, ulong position, HttpResponse response, WireFormat format, CancellationToken ct)
    {
        var shard = where.Shard;
        var budget = subscriptions.BudgetOf(consumer.Arn, shard.ShardIndex);
        // A first event right away tells the subscriber where it stands, even on an idle shard.
        var state = await where.Store.GetStateAsync(shard, ct).ConfigureAwait(false);
        var sentFirst = false;
        var failures = 0;
        while (true)
        {
            try
            {
                var tail = where.Store as IShardTail ?? throw new InvalidOperationException($"The store of node {where.NodeId} cannot be tailed.");
                if (!sentFirst && state.NextOrdinal <= position && state.SealedAtOrdinal is null)
                {
                    await WriteAsync(response, RecordsEvent([], shard.ShardIndex, position, 0, null, format), ct).ConfigureAwait(false);
                    sentFirst = true;
                }
                // A fenced former owner takes no more writes, so its tail just goes quiet: while it is quiet the
                // placement is re-read, and a change ends this watch so the new owner is found.
                using var moved = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var lastTip = new StrongBox<long>(time.GetTimestamp());
                var placementCheck = FollowPlacementAsync(shard, where.NodeId, lastTip, moved);
                try
                {
                    await foreach (var tip in tail.WatchAsync(shard, position, moved.Token).ConfigureAwait(false))
                    {
                        failures = 0;
                        Volatile.Write(ref lastTip.Value, time.GetTimestamp());
                        while (position < tip.NextOrdinal || tip.Sealed)
                        {
                            var wait = budget.UntilPositive();
                            if (wait > TimeSpan.Zero)
                                await Task.Delay(wait, time, ct).ConfigureAwait(false);
                            var allowance = (int)Math.Clamp(budget.Available(), 1, MaxBytesPerEvent);
                            var read = await where.Store.ReadAsync(shard, new ReadRequest(position, MaxRecordsPerEvent, allowance), ct).ConfigureAwait(false);
                            long bytes = 0;
                            foreach (var r in read.Records)
                                bytes += r.Data.Length + Encoding.UTF8.GetByteCount(r.PartitionKey);
                            budget.Take(bytes);
                            IReadOnlyList<ChildShard>? children = read.EndOfShard ? await SettledChildrenAsync(shard, ct).ConfigureAwait(false) : null;
                            if (read.Records.Count > 0 || children is not null)
                            {
                                await WriteAsync(response, RecordsEvent(read.Records, shard.ShardIndex, read.NextOrdinal, read.MillisBehindLatest, children, format), ct).ConfigureAwait(false);
                                subscriptions.Count(consumer.Arn, shard.ShardIndex, bytes, read.Records.Count);
                                sentFirst = true;
                            }
                            position = read.NextOrdinal;
                            if (read.EndOfShard)
                                return;
                            if (read.Records.Count == 0)
                                break;
                        }
                    }
                }
                catch (OperationCanceledException) when (moved.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    throw new ShardStoreUnavailableException(where.NodeId, "The shard's placement moved to another node.");
                }
                finally
                {
                    await moved.CancelAsync().ConfigureAwait(false);
                    await placementCheck.ConfigureAwait(false);
                }
                // The tail ended without a seal (the owner went away cleanly): find the owner again.
                throw new ShardStoreUnavailableException(where.NodeId, "The tail stream ended.");
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is ShardStoreUnavailableException or ShardNotOwnedException or IOException or HttpRequestException)
            {
                // The owner moved, restarted or is unreachable: re-read the placement and continue from what was sent.
                failures++;
                if (failures > 30)
                    throw;
                logger.LogInformation("Tail of {Shard} for {Consumer} interrupted ({Error}); re-resolving the owner", shard, consumer.Arn, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * failures)), time, ct).ConfigureAwait(false);
                where = await LocateAsync(shard, ct).ConfigureAwait(false)
                    ?? throw KinesisException.ResourceNotFound($"Shard {ShardIds.Format(shard.ShardIndex)} no longer exists.");
            }
            catch (ShardNotFoundException) when (!ct.IsCancellationRequested)
            {
                throw KinesisException.ResourceNotFound($"Shard {ShardIds.Format(shard.ShardIndex)} no longer exists.");
            }
        }
    }

    private async Task<ulong> ResolveAsync(ShardWhere where, StartingPosition start, string canonical, CancellationToken ct)
    {
        switch (start.Type)
        {
            case "AT_SEQUENCE_NUMBER" or "AFTER_SEQUENCE_NUMBER":
                if (start.SequenceNumber is null)
                    throw KinesisException.InvalidArgument($"StartingPosition {start.Type} requires a SequenceNumber.");
                if (!Core.Streams.SequenceNumber.TryParse(start.SequenceNumber, out var seq))
                    throw KinesisException.InvalidArgument($"StartingSequenceNumber {start.SequenceNumber} used in SubscribeToShard on shard {canonical} is invalid.");
                if (seq.ShardIndex != where.Shard.ShardIndex)
                    throw KinesisException.InvalidArgument($"Invalid StartingSequenceNumber. It encodes {ShardIds.Format(seq.ShardIndex)}, while it was used in a call to a shard with {canonical}");
                return start.Type == "AT_SEQUENCE_NUMBER" ? seq.Ordinal : seq.Ordinal + 1;
            case "TRIM_HORIZON":
                return 0; // reads start at the oldest retained record, wherever the trim point is
            case "LATEST":
                return (await where.Store.GetStateAsync(where.Shard, ct).ConfigureAwait(false)).NextOrdinal;
            default:
                if (start.Timestamp is not { } at)
                    throw KinesisException.InvalidArgument("StartingPosition AT_TIMESTAMP requires a Timestamp.");
                return await where.Store.FindOrdinalAsync(where.Shard, at.ToUnixTimeMilliseconds(), ct).ConfigureAwait(false);
        }
    }

    private sealed record ShardWhere(ShardRef Shard, string NodeId, IShardStore Store);

    public sealed record ChildShard(string ShardId, IReadOnlyList<string> ParentShards, HashKeyRange Range);

    /// <summary>
    /// While the tail has been quiet for <see cref="PlacementCheckInterval"/>, re-reads the shard's placement and
    /// cancels <paramref name="moved"/> once it names another node (or none). A busy tail costs no query.
    /// </summary>
    private async Task FollowPlacementAsync(ShardRef shard, string nodeId, StrongBox<long> lastTip, CancellationTokenSource moved)
    {
        try
        {
            while (true)
            {
                // Half-interval ticks: a move is noticed between one and one and a half intervals after the last tip.
                await Task.Delay(PlacementCheckInterval / 2, time, moved.Token).ConfigureAwait(false);
                if (time.GetElapsedTime(Volatile.Read(ref lastTip.Value)) < PlacementCheckInterval)
                    continue;
                await using var db = await dbFactory.CreateDbContextAsync(moved.Token).ConfigureAwait(false);
                var owner = await ShardOwners.OwnerNodeAsync(db, shard, moved.Token).ConfigureAwait(false);
                if (owner != nodeId)
                {
                    await moved.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (moved.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The check is an optimisation of failover; the tail's own failure detection still applies.
            logger.LogDebug(e, "Placement check of {Shard} failed", shard);
        }
    }

    private async Task<ShardWhere?> LocateAsync(ShardRef shard, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var owner = await locator.OwnerAsync(db, shard, ct).ConfigureAwait(false);
        return owner is null ? null : new ShardWhere(shard, owner.NodeId, owner.Store);
    }

    /// <summary>
    /// A resharding seals the parent before it commits the children (one transaction that also closes the parent's
    /// row), so the end of a sealed shard is reported only once its row is closed and the children are known.
    /// </summary>
    private async Task<IReadOnlyList<ChildShard>> SettledChildrenAsync(ShardRef shard, CancellationToken ct)
    {
        // Bounded: the commit follows the seal within a step of the resharding workflow, or after its recovery.
        for (var wait = 0; wait < 600; wait++)
        {
            await using (var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false))
            {
                var closed = await db.Shards.AsNoTracking()
                    .AnyAsync(s => s.StreamId == shard.StreamId && s.ShardIndex == shard.ShardIndex && s.EndingSequenceNumber != null, ct).ConfigureAwait(false);
                if (closed)
                    break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
        }
        return await ChildrenAsync(shard, ct).ConfigureAwait(false);
    }

    private async Task<IReadOnlyList<ChildShard>> ChildrenAsync(ShardRef shard, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.Shards.AsNoTracking()
            .Where(s => s.StreamId == shard.StreamId && (s.ParentShardIndex == shard.ShardIndex || s.AdjacentParentShardIndex == shard.ShardIndex))
            .ToListAsync(ct).ConfigureAwait(false);
        return [.. rows.OrderBy(s => s.ShardIndex).Select(s => new ChildShard(
            ShardIds.Format(s.ShardIndex),
            [.. new[] { s.ParentShardIndex, s.AdjacentParentShardIndex }.Where(p => p.HasValue).Select(p => ShardIds.Format(p!.Value))],
            new HashKeyRange(s.HashKeyStart, s.HashKeyEnd)))];
    }

    /// <summary>
    /// ContinuationSequenceNumber is the last record delivered (resume with AFTER_SEQUENCE_NUMBER). Before any record
    /// of the shard exists there is no such number, and the member is left out.
    /// </summary>
    internal static byte[] RecordsEvent(IReadOnlyList<StoredRecord> records, int shardIndex, ulong nextOrdinal, long millisBehind, IReadOnlyList<ChildShard>? children, WireFormat format = WireFormat.Json)
    {
        using var w = new WireWriter(format, 256 + records.Sum(r => r.Data.Length * 4 / 3 + r.PartitionKey.Length + 96));
        w.StartObject();
        w.StartArray("Records");
        foreach (var r in records)
        {
            w.StartObject();
            w.String("SequenceNumber", new Core.Streams.SequenceNumber(shardIndex, r.Ordinal).ToString());
            w.Timestamp("ApproximateArrivalTimestamp", r.ArrivalUnixMs);
            w.Blob("Data", r.Data.Span);
            w.String("PartitionKey", r.PartitionKey);
            if (r.Encrypted)
                w.String("EncryptionType", "KMS");
            w.EndObject();
        }
        w.EndArray();
        if (nextOrdinal > 0)
            w.String("ContinuationSequenceNumber", new Core.Streams.SequenceNumber(shardIndex, nextOrdinal - 1).ToString());
        w.Number("MillisBehindLatest", millisBehind);
        if (children is not null)
        {
            w.StartArray("ChildShards");
            foreach (var c in children)
            {
                w.StartObject();
                w.String("ShardId", c.ShardId);
                w.StartArray("ParentShards");
                foreach (var p in c.ParentShards)
                    w.StringValue(p);
                w.EndArray();
                w.StartObject("HashKeyRange");
                w.String("StartingHashKey", c.Range.Start.ToString());
                w.String("EndingHashKey", c.Range.End.ToString());
                w.EndObject();
                w.EndObject();
            }
            w.EndArray();
        }
        w.EndObject();
        return Event("SubscribeToShardEvent", w.Complete().Span, format);
    }

    private static byte[] EmptyObject(WireFormat format)
    {
        using var w = new WireWriter(format, 16);
        w.StartObject();
        w.EndObject();
        return w.Complete().ToArray();
    }

    internal static byte[] Event(string eventType, ReadOnlySpan<byte> payload, WireFormat format = WireFormat.Json) => EventStreamCodec.Encode(
    [
        EventHeader.String(":event-type", eventType),
        EventHeader.String(":content-type", WireDocument.ContentType(format)),
        EventHeader.String(":message-type", "event"),
    ], payload);

    internal static byte[] Exception(string type, string message, WireFormat format = WireFormat.Json)
    {
        using var w = new WireWriter(format, 64 + message.Length);
        w.StartObject();
        w.String("message", message);
        w.EndObject();
        return EventStreamCodec.Encode(
        [
            EventHeader.String(":exception-type", type.EndsWith("Exception", StringComparison.Ordinal) || type == ErrorTypes.InternalFailure ? type : type + "Exception"),
            EventHeader.String(":content-type", format == WireFormat.Cbor ? WireDocument.CborContentType : "application/json"),
            EventHeader.String(":message-type", "exception"),
        ], w.Complete().Span);
    }

    private static async Task WriteAsync(HttpResponse response, byte[] message, CancellationToken ct)
    {
        await response.Body.WriteAsync(message, ct).ConfigureAwait(false);
        await response.Body.FlushAsync(ct).ConfigureAwait(false);
    }
}
