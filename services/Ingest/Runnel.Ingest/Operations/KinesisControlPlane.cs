using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Hashing;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Ingest.Options;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Streams;
using Runnel.Ingest.Throttling;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Ingest.Operations;

/// <summary>
/// The stream catalog's operations: create, delete, describe and list streams and shards, retention, record size and
/// limits (tags are <see cref="KinesisTagging"/>'s). Each is admitted against its control-plane rate (<see cref="ControlPlaneAdmission"/>) first.
/// </summary>
internal sealed class KinesisControlPlane(
    RouteCache routes,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator stores,
    IShardPlacer placer,
    IOptions<IngestOptions> ingest,
    TimeProvider time,
    IThroughputLimiter limiter,
    Capacity.HotKeyReporter heat,
    KinesisStreams streams,
    ControlPlaneAdmission admission) : IKinesisOperations
{
    private static readonly FrozenSet<string> Operations = new[]
    {
        "CreateStream", "DeleteStream", "DescribeStream", "DescribeStreamSummary", "ListStreams", "ListShards",
        "IncreaseStreamRetentionPeriod", "DecreaseStreamRetentionPeriod",
        "DescribeLimits", "UpdateMaxRecordSize",
    }.ToFrozenSet(StringComparer.Ordinal);

    public bool Handles(string operation) => Operations.Contains(operation);

    public async Task HandleAsync(string operation, ApiCall call)
    {
        await admission.AdmitAsync(operation, call.Aborted);
        await (operation switch
        {
            "CreateStream" => CreateStreamAsync(call),
            "DeleteStream" => DeleteStreamAsync(call),
            "DescribeStream" => DescribeStreamAsync(call),
            "DescribeStreamSummary" => DescribeStreamSummaryAsync(call),
            "ListStreams" => ListStreamsAsync(call),
            "ListShards" => ListShardsAsync(call),
            "IncreaseStreamRetentionPeriod" => ChangeRetentionAsync(call, increase: true),
            "DecreaseStreamRetentionPeriod" => ChangeRetentionAsync(call, increase: false),
            "DescribeLimits" => DescribeLimitsAsync(call),
            "UpdateMaxRecordSize" => UpdateMaxRecordSizeAsync(call),
            _ => throw KinesisOperations.Unknown(operation),
        });
    }

    private string Account => streams.Account;

    private const int MinRetentionHours = 24;
    private const int MaxRetentionHours = 8760;
    private static readonly string[] ShardFilterTypes = ["AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST", "AT_TIMESTAMP", "FROM_TIMESTAMP"];
    private static readonly TimeSpan NextTokenLifetime = TimeSpan.FromSeconds(300);

    // ---------------------------------------------------------------- CreateStream / DeleteStream

    private async Task CreateStreamAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        v.NotNull("streamName", q.StreamName);
        v.StreamName(q.StreamName);
        v.Range("shardCount", q.ShardCount, 1, KinesisStreams.MaxShardsPerStream);
        v.Enum("streamModeDetails.streamMode", q.StreamMode, KinesisStreams.Modes);
        v.Range("maxRecordSizeInKiB", q.MaxRecordSizeInKiB, 1024, 10240);
        KinesisTagging.ValidateTags(v, q.Tags, "tags");
        v.ThrowIfAny();
        var mode = q.StreamMode ?? Metadata.Entities.StreamModes.Provisioned;
        if (mode == Metadata.Entities.StreamModes.Provisioned && q.ShardCount is null)
            throw KinesisException.InvalidArgument("ShardCount is required for a stream in PROVISIONED mode.");
        var shardCount = (int)(q.ShardCount ?? ingest.Value.OnDemandShardCount);
        var name = q.StreamName!;
        var ct = call.Aborted;

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (await db.Streams.AnyAsync(s => s.Name == name, ct))
            throw KinesisException.ResourceInUse($"Stream {name} under account {Account} already exists.");
        await streams.CheckShardLimitAsync(db, shardCount, ct);
        if (mode == Metadata.Entities.StreamModes.OnDemand)
            await streams.CheckOnDemandStreamLimitAsync(db, ct);

        var now = time.GetUtcNow();
        var stream = new StreamEntity
        {
            Name = name,
            Status = StreamStatuses.Creating,
            Mode = mode,
            CreatedAt = now,
            RetentionHours = MinRetentionHours,
            MaxRecordSizeKiB = (int)(q.MaxRecordSizeInKiB ?? 1024),
            Version = 1,
        };
        stream.AddEvenlySplitShards(shardCount, now);
        if (q.Tags is not null)
            foreach (var (key, value) in q.Tags)
                stream.Tags.Add(new StreamTagEntity { Key = key, Value = value });

        await placer.WaitForNodesAsync(db, ct);
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            db.Streams.Add(stream);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException)
            {
                throw KinesisException.ResourceInUse($"Stream {name} under account {Account} already exists.");
            }
            await placer.PlaceAsync(db, stream.Id, [.. Enumerable.Range(0, shardCount)], ct);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        // The stream reports CREATING until every owner has opened its shards.
        var settings = new ShardSettings(TimeSpan.FromHours(stream.RetentionHours));
        var placements = await ShardOwners.PlacementsAsync(db, stream.Id, null, ct);
        await Task.WhenAll(placements.Select(p =>
            stores.ForNode(p.NodeId).OpenShardAsync(new ShardRef(stream.Id, p.ShardIndex), p.Epoch, settings, CancellationToken.None)));
        stream.Status = StreamStatuses.Active;
        stream.Version++;
        await db.SaveChangesAsync(CancellationToken.None);
        routes.Invalidate(name);
        await call.RespondEmptyAsync();
    }

    private async Task DeleteStreamAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.ThrowIfAny();
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct, tracked: true);
        // A stream still CREATING has owners opening its shards: deleting now would leave folders they create after
        // the delete went by. A DELETING one may be deleted again (a deletion that failed part way is finished so).
        if (stream.Status == StreamStatuses.Creating)
            throw streams.NotActive(stream);
        if (q.EnforceConsumerDeletion != true && await db.StreamConsumers.AnyAsync(c => c.StreamId == stream.Id, ct))
            throw KinesisException.ResourceInUse($"Stream {name} under account {Account} has registered consumers. Deregister them or set EnforceConsumerDeletion.");
        stream.Status = StreamStatuses.Deleting;
        stream.Version++;
        await db.SaveChangesAsync(ct);
        routes.Invalidate(name);

        // From here the deletion runs to the end even if the client leaves.
        await stores.DropStreamShardsAsync(db, stream.Id, CancellationToken.None);
        db.Streams.Remove(stream);
        await db.SaveChangesAsync(CancellationToken.None);
        routes.Invalidate(name);
        await call.RespondEmptyAsync();
    }

    // ---------------------------------------------------------------- Describe / List

    private void WriteStreamHeader(WireWriter w, StreamEntity s)
    {
        w.String("StreamName", s.Name);
        w.String("StreamARN", streams.ArnOf(s.Name));
        w.String("StreamStatus", s.Status);
        w.StartObject("StreamModeDetails");
        w.String("StreamMode", s.Mode);
        w.EndObject();
        w.Number("RetentionPeriodHours", s.RetentionHours);
        w.Timestamp("StreamCreationTimestamp", s.CreatedAt);
        w.StartArray("EnhancedMonitoring");
        w.StartObject();
        w.StartArray("ShardLevelMetrics");
        w.EndArray();
        w.EndObject();
        w.EndArray();
        w.String("EncryptionType", s.EncryptionType);
        w.String("KeyId", s.KeyId);
    }

    private static void WriteShard(WireWriter w, ShardEntity shard)
    {
        w.StartObject();
        w.String("ShardId", ShardIds.Format(shard.ShardIndex));
        if (shard.ParentShardIndex is { } p)
            w.String("ParentShardId", ShardIds.Format(p));
        if (shard.AdjacentParentShardIndex is { } a)
            w.String("AdjacentParentShardId", ShardIds.Format(a));
        w.StartObject("HashKeyRange");
        w.String("StartingHashKey", HashKeys.Format(shard.HashKeyStart));
        w.String("EndingHashKey", HashKeys.Format(shard.HashKeyEnd));
        w.EndObject();
        w.StartObject("SequenceNumberRange");
        w.String("StartingSequenceNumber", shard.StartingSequenceNumber);
        w.String("EndingSequenceNumber", shard.EndingSequenceNumber);
        w.EndObject();
        w.EndObject();
    }

    private async Task DescribeStreamAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.Range("limit", q.Limit, 1, 10000);
        v.ShardId(q.ExclusiveStartShardId, "exclusiveStartShardId");
        v.ThrowIfAny();
        var ct = call.Aborted;
        await admission.AdmitPerStreamAsync("DescribeStream", name, ct);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id).ToListAsync(ct);
        shards.Sort((a, b) => a.ShardIndex.CompareTo(b.ShardIndex));
        var after = q.ExclusiveStartShardId is null ? -1 : ShardIds.TryParse(q.ExclusiveStartShardId, out var ex) ? ex : int.MaxValue;
        var limit = (int)(q.Limit ?? 100);
        var page = shards.Where(s => s.ShardIndex > after).Take(limit + 1).ToList();
        var more = page.Count > limit;

        using var w = call.Writer(256 + page.Count * 256);
        w.StartObject();
        w.StartObject("StreamDescription");
        WriteStreamHeader(w, stream);
        w.StartArray("Shards");
        foreach (var shard in page.Take(limit))
            WriteShard(w, shard);
        w.EndArray();
        w.Boolean("HasMoreShards", more);
        w.EndObject();
        w.EndObject();
        await call.RespondAsync(w);
    }

    private async Task DescribeStreamSummaryAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.ThrowIfAny();
        var ct = call.Aborted;
        await admission.AdmitPerStreamAsync("DescribeStreamSummary", name, ct);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        var openIndexes = await db.Shards.Where(s => s.StreamId == stream.Id && s.EndingSequenceNumber == null).Select(s => s.ShardIndex).ToListAsync(ct);
        var open = openIndexes.Count;
        var consumers = await db.StreamConsumers.CountAsync(c => c.StreamId == stream.Id, ct);
        // Beyond the managed service: the shards near their write limit and the partition keys that make them so.
        var hot = await heat.HotShardsOrNoneAsync(stream.Id, stream.Name, openIndexes, keys: 5, ct);
        using var w = call.Writer();
        w.StartObject();
        w.StartObject("StreamDescriptionSummary");
        WriteStreamHeader(w, stream);
        w.Number("OpenShardCount", open);
        w.Number("ConsumerCount", consumers);
        w.Number("MaxRecordSizeInKiB", stream.MaxRecordSizeKiB);
        if (hot.Count > 0)
            WriteHotShards(w, hot);
        w.EndObject();
        w.EndObject();
        await call.RespondAsync(w);
    }

    /// <summary>
    /// <c>HotShards</c>: per hot shard its offered write rate over the report window, its use of the write limit in
    /// percent, and its heaviest partition keys with their share of the shard's bytes in percent.
    /// </summary>
    private static void WriteHotShards(WireWriter w, List<Capacity.ShardHeat> hot)
    {
        w.StartArray("HotShards");
        foreach (var h in hot)
        {
            w.StartObject();
            w.String("ShardId", ShardIds.Format(h.ShardIndex));
            w.Number("IncomingBytesPerSecond", (long)Math.Round(h.BytesPerSecond));
            w.Number("IncomingRecordsPerSecond", (long)Math.Round(h.RecordsPerSecond));
            w.Number("WriteUtilizationPercent", (long)Math.Round(h.Use * 100));
            w.Number("WindowSeconds", h.Seconds);
            w.StartArray("HotPartitionKeys");
            foreach (var k in h.Keys)
            {
                w.StartObject();
                w.String("PartitionKey", k.Key);
                w.Number("IncomingBytesPerSecond", (long)Math.Round((double)k.Bytes / h.Seconds));
                w.Number("SharePercent", h.BytesPerSecond > 0 ? (long)Math.Round(Math.Min(100.0, 100.0 * k.Bytes / h.Seconds / h.BytesPerSecond)) : 0);
                w.EndObject();
            }
            w.EndArray();
            w.EndObject();
        }
        w.EndArray();
    }

    private async Task ListStreamsAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        v.Range("limit", q.Limit, 1, 10000);
        v.StreamName(q.ExclusiveStartStreamName, "exclusiveStartStreamName");
        v.Length("nextToken", q.NextToken, 1, 1048576);
        v.ThrowIfAny();
        var after = q.ExclusiveStartStreamName;
        if (q.NextToken is not null)
        {
            if (after is not null)
                throw KinesisException.InvalidArgument("NextToken and ExclusiveStartStreamName cannot be provided together.");
            after = DecodeStreamsToken(q.NextToken);
        }
        var limit = (int)(q.Limit ?? 100);
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        // Backing streams of delivery streams are internal: their names cannot be addressed through this API.
        var query = db.Streams.AsNoTracking().Where(s => !s.Name.StartsWith(DeliveryStreamEntity.BackingStreamPrefix));
        if (after is not null)
            query = query.Where(s => string.Compare(s.Name, after) > 0);
        var page = await query.OrderBy(s => s.Name).Take(limit + 1).ToListAsync(ct);
        var more = page.Count > limit;
        if (more)
            page.RemoveAt(limit);

        using var w = call.Writer(128 + page.Count * 256);
        w.StartObject();
        w.StartArray("StreamNames");
        foreach (var s in page)
            w.StringValue(s.Name);
        w.EndArray();
        w.Boolean("HasMoreStreams", more);
        if (more)
            w.String("NextToken", Convert.ToBase64String(Encoding.UTF8.GetBytes("streams|" + page[^1].Name)));
        w.StartArray("StreamSummaries");
        foreach (var s in page)
        {
            w.StartObject();
            w.String("StreamName", s.Name);
            w.String("StreamARN", streams.ArnOf(s.Name));
            w.String("StreamStatus", s.Status);
            w.StartObject("StreamModeDetails");
            w.String("StreamMode", s.Mode);
            w.EndObject();
            w.Timestamp("StreamCreationTimestamp", s.CreatedAt);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        await call.RespondAsync(w);
    }

    private static string DecodeStreamsToken(string token)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            if (text.StartsWith("streams|", StringComparison.Ordinal))
                return text["streams|".Length..];
        }
        catch (FormatException)
        {
        }
        throw KinesisException.InvalidArgument("Invalid NextToken.");
    }

    /// <summary>A ListShards continuation: the stream, the last shard listed, the filter, and when it was issued.</summary>
    private sealed record ShardsToken(string Stream, long CreatedMs, int LastIndex, string? FilterType, string? FilterShardId, long? FilterTimestamp, long IssuedMs)
    {
        public string Encode() => Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('|',
            "shards", Stream, CreatedMs.ToString(CultureInfo.InvariantCulture), LastIndex.ToString(CultureInfo.InvariantCulture),
            FilterType ?? "", FilterShardId ?? "", FilterTimestamp?.ToString(CultureInfo.InvariantCulture) ?? "",
            IssuedMs.ToString(CultureInfo.InvariantCulture))));

        public static ShardsToken Decode(string token)
        {
            try
            {
                var parts = Encoding.UTF8.GetString(Convert.FromBase64String(token)).Split('|');
                if (parts.Length == 8 && parts[0] == "shards")
                    return new ShardsToken(parts[1], long.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture),
                        parts[4].Length == 0 ? null : parts[4], parts[5].Length == 0 ? null : parts[5],
                        parts[6].Length == 0 ? null : long.Parse(parts[6], CultureInfo.InvariantCulture), long.Parse(parts[7], CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
            }
            throw KinesisException.InvalidArgument("Invalid NextToken.");
        }
    }

    private async Task ListShardsAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        v.StreamName(q.StreamName);
        v.StreamArn(q.StreamArn);
        v.ShardId(q.ExclusiveStartShardId, "exclusiveStartShardId");
        v.Range("maxResults", q.MaxResults, 1, 10000);
        v.Length("nextToken", q.NextToken, 1, 1048576);
        if (q.HasShardFilter)
        {
            v.NotNull("shardFilter.type", q.FilterType);
            v.Enum("shardFilter.type", q.FilterType, ShardFilterTypes);
            v.ShardId(q.FilterShardId, "shardFilter.shardId");
        }
        v.ThrowIfAny();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();

        string name;
        int after;
        string? filterType = q.FilterType, filterShard = q.FilterShardId;
        long? filterTs = q.FilterTimestamp;
        long? createdMs = q.StreamCreationTimestamp;
        if (q.NextToken is not null)
        {
            if (q.StreamName is not null || q.StreamArn is not null)
                throw KinesisException.InvalidArgument("NextToken and StreamName cannot be provided together.");
            if (q.ExclusiveStartShardId is not null || q.HasShardFilter || q.StreamCreationTimestamp is not null)
                throw KinesisException.InvalidArgument("NextToken cannot be provided together with ExclusiveStartShardId, ShardFilter or StreamCreationTimestamp.");
            var token = ShardsToken.Decode(q.NextToken);
            if (now - token.IssuedMs > NextTokenLifetime.TotalMilliseconds)
                throw new KinesisException("ExpiredNextTokenException", "The timestamp of the next token has expired.");
            (name, after, filterType, filterShard, filterTs, createdMs) =
                (token.Stream, token.LastIndex, token.FilterType, token.FilterShardId, token.FilterTimestamp, token.CreatedMs);
        }
        else
        {
            var resolved = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn, required: false);
            v.ThrowIfAny();
            name = resolved ?? throw KinesisException.InvalidArgument("Either NextToken or StreamName should be provided.");
            after = q.ExclusiveStartShardId is null ? -1 : ShardIds.TryParse(q.ExclusiveStartShardId, out var ex) ? ex : int.MaxValue;
        }
        await admission.AdmitPerStreamAsync("ListShards", name, call.Aborted);
        if (filterType is "AFTER_SHARD_ID")
        {
            if (filterShard is null || !ShardIds.TryParse(filterShard, out var fi))
                throw KinesisException.InvalidArgument("ShardFilter of type AFTER_SHARD_ID requires a valid ShardId.");
            after = Math.Max(after, fi);
        }
        else if (filterShard is not null)
            throw KinesisException.InvalidArgument($"ShardFilter of type {filterType} does not take a ShardId.");
        if (filterType is "AT_TIMESTAMP" or "FROM_TIMESTAMP" && filterTs is null)
            throw KinesisException.InvalidArgument($"ShardFilter of type {filterType} requires a Timestamp.");
        else if (filterType is not ("AT_TIMESTAMP" or "FROM_TIMESTAMP") && filterTs is not null)
            throw KinesisException.InvalidArgument($"ShardFilter of type {filterType} does not take a Timestamp.");

        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct);
        if (createdMs is { } c && c != stream.CreatedAt.ToUnixTimeMilliseconds() && c / 1000 != stream.CreatedAt.ToUnixTimeSeconds())
            throw KinesisException.ResourceNotFound($"Stream {name} under account {Account} with the given creation timestamp not found.");
        var shards = await db.Shards.AsNoTracking().Where(s => s.StreamId == stream.Id).ToListAsync(ct);
        shards.Sort((a, b) => a.ShardIndex.CompareTo(b.ShardIndex));
        var horizon = time.GetUtcNow() - TimeSpan.FromHours(stream.RetentionHours);
        bool Retained(ShardEntity s) => s.ClosedAt is null || s.ClosedAt >= horizon;
        var retained = shards.Where(Retained).Select(s => s.ShardIndex).ToHashSet();
        IEnumerable<ShardEntity> selected = filterType switch
        {
            "AT_LATEST" => shards.Where(s => s.ClosedAt is null),
            "FROM_TRIM_HORIZON" => shards.Where(Retained),
            // Shards open at the trim horizon: retained and not descended from a retained shard.
            "AT_TRIM_HORIZON" => shards.Where(s => Retained(s)
                && !(s.ParentShardIndex is { } p && retained.Contains(p))
                && !(s.AdjacentParentShardIndex is { } a && retained.Contains(a))),
            "AT_TIMESTAMP" => shards.Where(s => s.CreatedAt.ToUnixTimeMilliseconds() <= filterTs
                && (s.ClosedAt is null || s.ClosedAt.Value.ToUnixTimeMilliseconds() >= filterTs)),
            "FROM_TIMESTAMP" => shards.Where(s => s.ClosedAt is null || s.ClosedAt.Value.ToUnixTimeMilliseconds() >= filterTs),
            _ => shards,
        };
        var limit = (int)(q.MaxResults ?? 1000);
        var page = selected.Where(s => s.ShardIndex > after).Take(limit + 1).ToList();
        var more = page.Count > limit;
        if (more)
            page.RemoveAt(limit);

        using var w = call.Writer(128 + page.Count * 256);
        w.StartObject();
        w.StartArray("Shards");
        foreach (var shard in page)
            WriteShard(w, shard);
        w.EndArray();
        if (more)
            w.String("NextToken", new ShardsToken(name, stream.CreatedAt.ToUnixTimeMilliseconds(), page[^1].ShardIndex,
                filterType, filterShard, filterTs, now).Encode());
        w.EndObject();
        await call.RespondAsync(w);
    }

    // ---------------------------------------------------------------- Retention and record size

    private async Task ChangeRetentionAsync(ApiCall call, bool increase)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn)!;
        v.NotNull("retentionPeriodHours", q.RetentionPeriodHours);
        v.Range("retentionPeriodHours", q.RetentionPeriodHours, 1, int.MaxValue);
        v.ThrowIfAny();
        var hours = (int)q.RetentionPeriodHours!.Value;
        if (hours < MinRetentionHours)
            throw KinesisException.InvalidArgument($"Minimum allowed retention period is {MinRetentionHours} hours. Requested retention period ({hours} hours) is too short.");
        if (hours > MaxRetentionHours)
            throw KinesisException.InvalidArgument($"Maximum allowed retention period is {MaxRetentionHours} hours. Requested retention period ({hours} hours) is too long.");
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name, ct, tracked: true);
        if (stream.Status != StreamStatuses.Active)
            throw streams.NotActive(stream);
        if (increase && hours < stream.RetentionHours)
            throw KinesisException.InvalidArgument(
                $"Requested retention period ({hours} hours) for stream {name} can not be shorter than existing retention period ({stream.RetentionHours} hours). Use DecreaseRetentionPeriod API.");
        if (!increase && hours > stream.RetentionHours)
            throw KinesisException.InvalidArgument(
                $"Requested retention period ({hours} hours) for stream {name} can not be longer than existing retention period ({stream.RetentionHours} hours). Use IncreaseRetentionPeriod API.");
        stream.RetentionHours = hours;
        stream.Version++;
        await db.SaveChangesAsync(ct);

        // Retention is enforced by the logs' owners, so each of them learns the new value.
        var settings = new ShardSettings(TimeSpan.FromHours(hours));
        var placements = await ShardOwners.PlacementsAsync(db, stream.Id, null, CancellationToken.None);
        await Task.WhenAll(placements.Select(async p =>
        {
            try
            {
                await stores.ForNode(p.NodeId).UpdateSettingsAsync(new ShardRef(stream.Id, p.ShardIndex), settings, CancellationToken.None);
            }
            catch (ShardNotFoundException)
            {
                // Deleted by a DeleteStream that followed this change.
            }
        }));
        routes.Invalidate(name);
        await call.RespondEmptyAsync();
    }

    private async Task UpdateMaxRecordSizeAsync(ApiCall call)
    {
        var q = ControlRequest.Parse(call);
        var v = new Violations();
        v.NotNull("streamARN", q.StreamArn);
        var name = KinesisStreams.NameOf(v, q.StreamName, q.StreamArn);
        v.NotNull("maxRecordSizeInKiB", q.MaxRecordSizeInKiB);
        v.Range("maxRecordSizeInKiB", q.MaxRecordSizeInKiB, 1024, 10240);
        v.ThrowIfAny();
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var stream = await streams.FindStreamAsync(db, name!, ct, tracked: true);
        if (stream.Status != StreamStatuses.Active)
            throw streams.NotActive(stream);
        stream.MaxRecordSizeKiB = (int)q.MaxRecordSizeInKiB!.Value;
        stream.Version++;
        await db.SaveChangesAsync(ct);
        routes.Invalidate(stream.Name);
        await call.RespondEmptyAsync();
    }

    private async Task DescribeLimitsAsync(ApiCall call)
    {
        ControlRequest.Parse(call);
        var ct = call.Aborted;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var open = await streams.OpenShardCountAsync(db, ct);
        var onDemand = await db.Streams.CountAsync(s => s.Mode == Metadata.Entities.StreamModes.OnDemand, ct);
        using var w = call.Writer();
        w.StartObject();
        w.Number("ShardLimit", ingest.Value.ShardLimit);
        w.Number("OpenShardCount", open);
        w.Number("OnDemandStreamCount", onDemand);
        w.Number("OnDemandStreamCountLimit", ingest.Value.OnDemandStreamLimit);
        // Not in the managed service's answer (clients ignore unknown members): the per-shard limits
        // in force for streams without an override; 0 means no limit.
        var limits = limiter.LimitsFor(string.Empty);
        w.StartObject("ShardThroughputLimits");
        w.Boolean("Enabled", limits is not null);
        if (limits is not null)
        {
            w.Number("WriteBytesPerSecond", limits.WriteBytesPerSecond);
            w.Number("WriteRecordsPerSecond", limits.WriteRecordsPerSecond);
            w.Number("ReadBytesPerSecond", limits.ReadBytesPerSecond);
            w.Number("GetRecordsPerSecond", limits.GetRecordsPerSecond);
            w.Number("GetShardIteratorPerSecond", limits.GetShardIteratorPerSecond);
        }
        w.EndObject();
        w.EndObject();
        await call.RespondAsync(w);
    }
}
