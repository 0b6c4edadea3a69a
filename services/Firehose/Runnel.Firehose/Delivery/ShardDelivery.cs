using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Firehose.Destinations;
using Runnel.Leases;
using Runnel.ServiceDefaults.Objects;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Firehose.Delivery;

/// <summary>What one shard's delivery needs: the delivery stream as read at the take, and the held lease.</summary>
/// <summary>
/// What one shard's delivery needs: the delivery stream as read at the take, where it delivers (an S3 destination, or an
/// HTTP endpoint with its S3 backup as <paramref name="Destination"/>), and the held lease.
/// </summary>
public sealed record ShardDeliveryContext(DeliveryStreamEntity DeliveryStream, S3Destination Destination, HttpEndpointDestination? Http, LeaseKeeper Lease, string? Checkpoint);

/// <summary>
/// Delivers one source shard of one delivery stream to S3 while its lease is held. Records are buffered in shard order
/// and an object is written when the buffer holds SizeInMBs MiB or its first record has waited IntervalInSeconds,
/// whichever comes first. The rule that makes delivery exactly once, in this order:
/// <list type="number">
/// <item>the checkpoint records the object about to be written, by its source range (<see cref="DeliveryCheckpoint"/>);</item>
/// <item>the object is written under the key derived from that range (<see cref="ObjectNames"/>), retried until the
/// store accepts it;</item>
/// <item>the checkpoint moves past the range.</item>
/// </list>
/// A holder that finds a recorded range (its predecessor died between 1 and 3) first writes that same range again,
/// which replaces the object if it was written, so every record ends in exactly one object. Checkpoint writes are
/// conditional on holding the lease: a replica that lost it stops at its next write.
/// </summary>
public sealed partial class ShardDelivery(
    ShardDeliveryContext context,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IObjectStore objects,
    HttpEndpointSender sender,
    RecordTransformer transformer,
    FirehoseMetrics metrics,
    FirehoseOptions options,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>Largest read from the shard: records up to a 4 MiB budget keep memory bounded for 128 MiB buffers.</summary>
    private const int ReadBytes = 4 * 1024 * 1024;

    private readonly DeliveryStreamEntity _d = context.DeliveryStream;
    private readonly S3Destination _destination = context.Destination;
    private readonly int _shardIndex = context.Lease.ShardIndex;

    /// <summary>Returns once a sealed shard is delivered to its end; throws <see cref="LeaseLostException"/> when the lease is lost.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var checkpoint = DeliveryCheckpoint.Parse(context.Checkpoint, _shardIndex);
        if (checkpoint.Finished)
            return;
        var next = checkpoint.NextOrdinal;
        if (checkpoint.Pending is var (first, last))
        {
            logger.LogInformation("Firehose {Name}: rewriting the object of shard {Shard} records {First}..{Last} recorded before a restart", _d.Name, _shardIndex, first, last);
            var replay = await ReadRangeAsync(first, last, ct).ConfigureAwait(false);
            if (replay.Count > 0)
                await DeliverAsync(replay, first, last, ct).ConfigureAwait(false);
            await context.Lease.CheckpointAsync(DeliveryCheckpoint.Delivered(_shardIndex, last + 1), ct).ConfigureAwait(false);
            next = last + 1;
        }

        var sizeLimit = (long)(context.Http?.SizeInMBs ?? _destination.SizeInMBs) * 1024 * 1024;
        var interval = TimeSpan.FromSeconds(context.Http?.IntervalInSeconds ?? _destination.IntervalInSeconds);
        var buffer = new List<StoredRecord>();
        long buffered = 0;
        DateTimeOffset? started = null;
        while (true)
        {
            var read = await ReadAsync(next, ct).ConfigureAwait(false);
            foreach (var r in read.Records)
            {
                buffer.Add(r);
                buffered += r.Data.Length;
                started ??= time.GetUtcNow();
                if (buffered >= sizeLimit)
                {
                    await FlushAsync(buffer, ct).ConfigureAwait(false);
                    buffered = 0;
                    started = null;
                }
            }
            next = read.NextOrdinal;
            var due = started is { } s && time.GetUtcNow() - s >= interval;
            if (buffer.Count > 0 && (due || read.EndOfShard))
            {
                await FlushAsync(buffer, ct).ConfigureAwait(false);
                buffered = 0;
                started = null;
            }
            if (read.EndOfShard)
            {
                await context.Lease.CheckpointAsync(DeliveryCheckpoint.ShardEnd, ct).ConfigureAwait(false);
                logger.LogInformation("Firehose {Name} finished shard {Shard}", _d.Name, _shardIndex);
                return;
            }
            if (read.Records.Count == 0 || read.MillisBehindLatest == 0)
            {
                // At the tip: wait for more records, but not past the moment the buffer is due.
                var wait = TimeSpan.FromMilliseconds(options.PollMilliseconds);
                if (started is { } since)
                    wait = TimeSpan.FromTicks(Math.Clamp((since + interval - time.GetUtcNow()).Ticks, TimeSpan.FromMilliseconds(1).Ticks, wait.Ticks));
                await Task.Delay(wait, time, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>How long an object being written may still take once delivery is asked to stop.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(30);

    private async Task FlushAsync(List<StoredRecord> buffer, CancellationToken ct)
    {
        var first = buffer[0].Ordinal;
        var last = buffer[^1].Ordinal;
        await context.Lease.CheckpointAsync(DeliveryCheckpoint.Writing(_shardIndex, first, first, last), ct).ConfigureAwait(false);
        // A stop (UpdateDestination, shutdown) lets a started object finish: replayed after an update it would be named
        // with the new destination version, beside the copy written under the old one.
        using var finishing = new CancellationTokenSource();
        await using (ct.Register(() => finishing.CancelAfter(StopGrace)))
        {
            await DeliverAsync(buffer, first, last, finishing.Token).ConfigureAwait(false);
            await context.Lease.CheckpointAsync(DeliveryCheckpoint.Delivered(_shardIndex, last + 1), finishing.Token).ConfigureAwait(false);
        }
        buffer.Clear();
    }

    private Task DeliverAsync(IReadOnlyList<StoredRecord> records, ulong first, ulong last, CancellationToken ct) =>
        context.Http is { } http ? SendAsync(http, records, first, last, ct) : WriteAsync(records, first, last, errorOutputType: null, ct);

    /// <summary>
    /// POSTs records first..last to the HTTP endpoint, retrying with backoff and jitter until it is delivered or the
    /// retry duration has passed since the first attempt; then they go to the backup bucket as failed records. The
    /// request id is drawn from the source range, so a batch sent again after a restart carries the same id and an
    /// endpoint can drop the copy (delivery to an endpoint is at least once).
    /// </summary>
    private async Task SendAsync(HttpEndpointDestination http, IReadOnlyList<StoredRecord> records, ulong first, ulong last, CancellationToken ct)
    {
        var source = new ObjectSource(_d.Id, _shardIndex, first, last, records[0].ArrivalUnixMs);
        if (http.S3BackupMode == HttpEndpointDestination.AllData)
            await WriteAsync(records, first, last, errorOutputType: null, ct).ConfigureAwait(false);
        var requestId = ObjectNames.RequestId(source);
        var started = time.GetUtcNow();
        var deadline = started + TimeSpan.FromSeconds(http.RetryDurationInSeconds);
        for (var attempt = 1; ; attempt++)
        {
            var outcome = await sender.SendAsync(http, requestId, records, ct).ConfigureAwait(false);
            if (outcome.Delivered)
                return;
            var now = time.GetUtcNow();
            if (now >= deadline)
            {
                logger.LogWarning("Firehose {Name}: {Url} refused request {RequestId} {Attempts} times ({Error}: {Message}); the records go to the backup bucket",
                    _d.Name, http.Url, requestId, attempt, outcome.ErrorCode, outcome.ErrorMessage);
                var failed = HttpEndpointSender.FailedRecords(records, _shardIndex, attempt, outcome, now.ToUnixTimeMilliseconds());
                await PutAsync(ObjectNames.Key(_d.Name, _d.VersionId, http.Backup, source, HttpEndpointFailed), failed, "application/json", ct).ConfigureAwait(false);
                return;
            }
            logger.LogInformation("Firehose {Name}: {Url} refused request {RequestId} ({Error}: {Message}); retrying", _d.Name, http.Url, requestId, outcome.ErrorCode, outcome.ErrorMessage);
            await context.Lease.RenewAsync(ct).ConfigureAwait(false);
            // 1 s doubling to 30 s, each wait between half and all of it so that replicas do not retry in step.
            var backoff = TimeSpan.FromMilliseconds(Math.Min(30_000, 1000 * Math.Pow(2, Math.Min(attempt - 1, 5))) * (0.5 + Random.Shared.NextDouble() / 2));
            var wait = deadline - now < backoff ? deadline - now : backoff;
            await Task.Delay(wait, time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The error output type of records an HTTP endpoint did not take.</summary>
    public const string HttpEndpointFailed = "http-endpoint-failed";

    /// <summary>
    /// Writes the object of records first..last to the S3 destination (or an HTTP endpoint's backup bucket), then, for a
    /// PostgreSQL destination, loads the staged object.
    /// </summary>
    private async Task WriteAsync(IReadOnlyList<StoredRecord> records, ulong first, ulong last, string? errorOutputType, CancellationToken ct)
    {
        var source = new ObjectSource(_d.Id, _shardIndex, first, last, records[0].ArrivalUnixMs);
        if (errorOutputType is null && context.Http is null && _destination.SourceBackup is { } backup)
        {
            // The source records as they arrived, under the backup's own key, before what is made of them: a replay of
            // the range writes both objects again under the same keys.
            var backupKey = ObjectNames.Key(_d.Name, _d.VersionId, backup, source);
            var backupContent = ObjectEncoding.Encode(records, backup.CompressionFormat, backupKey);
            await PutAsync(backup.Bucket, backupKey, backupContent, ObjectEncoding.ContentType(backup.CompressionFormat), ct).ConfigureAwait(false);
            metrics.BackedUp(_d.Name, records.Count, backupContent.Length, records[0].ArrivalUnixMs, time.GetUtcNow().ToUnixTimeMilliseconds());
        }
        if (errorOutputType is null && context.Http is null && _destination.Processing is { } processing && (processing.Active || processing.DynamicPartitioning))
        {
            await WriteProcessedAsync(processing, records, first, last, ct).ConfigureAwait(false);
            return;
        }
        var key = ObjectNames.Key(_d.Name, _d.VersionId, _destination, source, errorOutputType);
        var content = ObjectEncoding.Encode(records, _destination.CompressionFormat, key);
        await PutAsync(key, content, ObjectEncoding.ContentType(_destination.CompressionFormat), ct).ConfigureAwait(false);
        // Backups of an HTTP endpoint's batches are not deliveries to S3.
        if (errorOutputType is not null || context.Http is not null)
            return;
        metrics.Delivered(_d.Name, records.Count, content.Length, records[0].ArrivalUnixMs, time.GetUtcNow().ToUnixTimeMilliseconds());
        if (_destination.Postgres is { } postgres)
            await LoadAsync(postgres, key, records, ct).ConfigureAwait(false);
    }

    /// <summary>Puts an object into the destination's bucket, retrying with backoff (up to 30 s apart) until the store takes it.</summary>
    private Task PutAsync(string key, byte[] content, string contentType, CancellationToken ct) =>
        PutAsync(_destination.Bucket, key, content, contentType, ct);

    private async Task PutAsync(string bucket, string key, byte[] content, string contentType, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await objects.PutAsync(bucket, key, content, contentType, ct).ConfigureAwait(false);
                logger.LogDebug("Firehose {Name} wrote {Key} of shard {Shard}", _d.Name, key, _shardIndex);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                metrics.DeliveryFailed(_d.Name);
                logger.LogWarning(e, "Firehose {Name}: writing s3://{Bucket}/{Key} failed (attempt {Attempt}); retrying", _d.Name, bucket, key, attempt);
                // The lease must stay ours while we wait, or another replica would write the same range meanwhile.
                await context.Lease.RenewAsync(ct).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(30_000, 250 * Math.Pow(2, Math.Min(attempt, 10)))), time, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Copies the staged object <paramref name="key"/> into the PostgreSQL table. The key is recorded in the same
    /// transaction as the rows, so the replay of a range whose load committed before a crash loads nothing.
    /// </summary>
    private async Task LoadAsync(PostgresDestination postgres, string key, IReadOnlyList<StoredRecord> records, CancellationToken ct)
    {
        if (await sender.Policy.RefusalAsync(postgres.Endpoint, ct).ConfigureAwait(false) is { } refusal)
            throw new InvalidOperationException($"Connecting to {postgres.JdbcUrl} is not allowed: {refusal}.");
        var rows = await PostgresLoader.LoadAsync(postgres, _d.Name, key, ObjectEncoding.Encode(records, Compressions.Uncompressed), ct).ConfigureAwait(false);
        if (rows is { } loaded)
            logger.LogDebug("Firehose {Name} loaded {Rows} rows of {Key} into {Table}", _d.Name, loaded, key, postgres.Table);
        else
            logger.LogInformation("Firehose {Name}: {Key} was loaded into {Table} before; not loaded again", _d.Name, key, postgres.Table);
    }


    private async Task<List<StoredRecord>> ReadRangeAsync(ulong first, ulong last, CancellationToken ct)
    {
        var records = new List<StoredRecord>();
        var next = first;
        while (next <= last)
        {
            var read = await ReadAsync(next, ct).ConfigureAwait(false);
            records.AddRange(read.Records.Where(r => r.Ordinal <= last));
            if (read.Records.Count == 0 || read.EndOfShard)
                break;
            next = read.NextOrdinal;
        }
        return records;
    }

    /// <summary>One read at the shard's current owner; an owner that moved or is unreachable is looked up again.</summary>
    private async Task<ReadResult> ReadAsync(ulong from, CancellationToken ct)
    {
        var shard = new ShardRef(_d.SourceStreamId, _shardIndex);
        for (var failures = 1; ; failures++)
        {
            try
            {
                string node;
                await using (var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false))
                {
                    node = await ShardOwners.OwnerNodeAsync(db, shard, ct).ConfigureAwait(false) ?? throw new ShardNotFoundException(shard);
                }
                return await locator.ForNode(node).ReadAsync(shard, new ReadRequest(from, 10_000, ReadBytes), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is ShardStoreUnavailableException or ShardNotOwnedException or IOException or HttpRequestException)
            {
                logger.LogInformation("Firehose {Name}: reading shard {Shard} failed ({Error}); retrying", _d.Name, _shardIndex, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * failures)), time, ct).ConfigureAwait(false);
            }
        }
    }
}
