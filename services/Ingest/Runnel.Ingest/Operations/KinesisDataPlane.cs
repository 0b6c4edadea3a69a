using System.Text;
using Runnel.Core.Errors;
using Runnel.Core.Hashing;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Streams;
using Runnel.Ingest.Throttling;

namespace Runnel.Ingest.Operations;

/// <summary>
/// PutRecord, PutRecords, GetShardIterator and GetRecords: the hot path, on the request's pooled body. Each is limited
/// per shard inside the operation (ProvisionedThroughputExceededException), never by the account's control-plane rate.
/// </summary>
internal sealed class KinesisDataPlane(
    RouteCache routes,
    IShardStoreLocator stores,
    ShardIteratorCodec iterators,
    TimeProvider time,
    IThroughputLimiter limiter,
    StreamMetrics metrics,
    Capacity.TrafficRecorder traffic,
    KinesisStreams streams,
    ILogger<KinesisDataPlane> logger) : IKinesisOperations
{
    public bool Handles(string operation) => operation is "PutRecord" or "PutRecords" or "GetShardIterator" or "GetRecords";

    public Task HandleAsync(string operation, ApiCall call) => operation switch
    {
        "PutRecord" => PutRecordAsync(call),
        "PutRecords" => PutRecordsAsync(call),
        "GetShardIterator" => GetShardIteratorAsync(call),
        "GetRecords" => GetRecordsAsync(call),
        _ => throw KinesisOperations.Unknown(operation),
    };

    private string Account => streams.Account;

    private static bool IsRoutingMiss(Exception e) => e is ShardNotOwnedException or ShardSealedException;

    private KinesisException ShardRateExceeded(string stream, int shardIndex) =>
        KinesisException.Throughput($"Rate exceeded for shard {ShardIds.Format(shardIndex)} in stream {stream} under account {Account}.");

    /// <summary>Data of one record, absolute limit (UpdateMaxRecordSize's maximum of 10 MiB).</summary>
    private const int MaxDataBytes = 10 * 1024 * 1024;
    /// <summary>PutRecords: data plus partition keys of the whole request.</summary>
    private const int MaxBatchBytes = 10 * 1024 * 1024;
    private const int MaxBatchRecords = 500;
    /// <summary>GetRecords answers at most this much data, and at most 10,000 records.</summary>
    private const int MaxReadBytes = 10 * 1024 * 1024;
    private const int MaxReadRecords = 10_000;

    /// <summary>JSON GetRecords answers estimated above this are streamed (chunked on HTTP/1.1); smaller ones keep a Content-Length.</summary>
    private const long StreamedAnswerBytes = 256 * 1024;

    /// <summary>Bytes of a streamed answer sent per flush: the response pipe's default pause threshold.</summary>
    private const int StreamedChunkBytes = 64 * 1024;
    /// <summary>Appends retried after a routing miss (moved or sealed shard) before the record fails.</summary>
    private const int MaxRouteAttempts = 3;

    private static readonly string[] IteratorTypes = ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER", "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"];

    internal struct RecordInput
    {
        public string? PartitionKey;
        public ReadOnlyMemory<byte>? Data;
        public string? ExplicitHashKey;
    }

    private static void ReadRecordMember(ref WireReader r, ReadOnlySpan<byte> name, ref RecordInput record)
    {
        if (name.SequenceEqual("Data"u8))
            record.Data = r.ReadBlob();
        else if (name.SequenceEqual("PartitionKey"u8))
            record.PartitionKey = r.ReadString();
        else if (name.SequenceEqual("ExplicitHashKey"u8))
            record.ExplicitHashKey = r.ReadString();
        else
            r.Skip();
    }

    /// <summary>
    /// Validates one record; <paramref name="index"/> is its position in a PutRecords batch (null for PutRecord).
    /// A valid record costs no allocation: member paths and messages are built only for a record that fails.
    /// </summary>
    private static void ValidateRecord(Violations v, in RecordInput record, int? index)
    {
        if (record.PartitionKey is { Length: >= 1 and <= HashKeys.MaxPartitionKeyLength }
            && record.Data is { Length: <= MaxDataBytes }
            && (record.ExplicitHashKey is null || Violations.IsHashKeyText(record.ExplicitHashKey)))
            return;
        var prefix = MemberPath(index);
        v.NotNull(prefix + "partitionKey", record.PartitionKey);
        v.Length(prefix + "partitionKey", record.PartitionKey, 1, HashKeys.MaxPartitionKeyLength);
        if (record.Data is null)
            v.NotNull(prefix + "data", null);
        v.BlobLength(prefix + "data", record.Data?.Length, 0, MaxDataBytes);
        v.Pattern(prefix + "explicitHashKey", record.ExplicitHashKey, Violations.HashKeyPattern, Violations.IsHashKeyText);
    }

    private static string MemberPath(int? index) => index is { } i ? $"records.{i + 1}.member." : "";

    /// <summary>Checks a valid record against the stream and returns its hash key.</summary>
    private static UInt128 HashKeyOf(in RecordInput record, StreamRoute route, int? index, out int size)
    {
        var dataLength = record.Data!.Value.Length;
        if (dataLength > route.MaxRecordSizeBytes)
        {
            var v = new Violations();
            v.BlobLength(MemberPath(index) + "data", dataLength, 0, route.MaxRecordSizeBytes);
            v.ThrowIfAny();
        }
        size = dataLength + Encoding.UTF8.GetByteCount(record.PartitionKey!);
        if (size > route.MaxRecordSizeBytes)
            throw KinesisException.InvalidArgument(
                $"Record size (data + partition key) of {size} bytes exceeds the maximum record size of {route.MaxRecordSizeBytes} bytes of stream {route.Name}.");
        if (record.ExplicitHashKey is null)
            return HashKeys.FromPartitionKey(record.PartitionKey!);
        if (!HashKeys.TryParse(record.ExplicitHashKey, out var key))
            throw KinesisException.InvalidArgument(
                $"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, {HashKeys.Format(UInt128.MaxValue)}]. Specified value was {record.ExplicitHashKey}");
        return key;
    }

    // ---------------------------------------------------------------- PutRecord

    private async Task PutRecordAsync(ApiCall call)
    {
        var (name, record) = ParsePutRecord(call);
        var route = await streams.WritableRouteAsync(name);
        var hashKey = HashKeyOf(record, route, null, out var size);
        var batch = new[] { new AppendRecord(record.PartitionKey!, record.Data!.Value) };
        if (route.Route(hashKey) is { } target)
        {
            var granted = await limiter.AcquireWritesAsync(new StreamKey(route.StreamId, route.Name), [new ShardWriteDemand(target.Index, [size])], call.Aborted);
            traffic.PutRecord(route.StreamId, target.Index, record.PartitionKey!, size, granted[0] != 0);
            if (granted[0] == 0)
            {
                metrics.WriteThrottled(route.Name, target.Index, 1);
                throw ShardRateExceeded(route.Name, target.Index);
            }
        }
        for (var attempt = 1; ; attempt++)
        {
            var shard = route.Route(hashKey) ?? throw new KinesisException(ErrorTypes.InternalFailure, "No open shard covers the hash key.", 500);
            try
            {
                var result = await stores.ForNode(shard.NodeId).AppendAsync(route.RefOf(shard), shard.Epoch, batch, call.Aborted);
                metrics.RecordsIn(route.Name, shard.Index, 1, size);
                using var w = call.Writer(160);
                w.StartObject();
                w.String("ShardId", ShardIds.Format(shard.Index));
                w.String("SequenceNumber", new SequenceNumber(shard.Index, result.FirstOrdinal).ToString());
                w.String("EncryptionType", route.EncryptionType);
                w.EndObject();
                await call.RespondAsync(w);
                return;
            }
            catch (Exception e) when ((IsRoutingMiss(e) || e is ShardNotFoundException) && attempt < RouteAttemptsAfter(e))
            {
                route = await (e is ShardSealedException ? SuccessorRouteAsync(route, shard.Index, call.Aborted) : routes.RefreshAsync(route).AsTask()) is { } fresh && RouteCache.IsWritable(fresh.Status) ? fresh : throw streams.NotFound(name);
            }
            catch (ShardNotFoundException)
            {
                throw streams.NotFound(name);
            }
        }
    }

    private static (string, RecordInput) ParsePutRecord(ApiCall call) => ParsePutRecord(call.Body, call.Length, call.Format);

    /// <summary>Reads and validates a PutRecord body (record data is decoded in place in <paramref name="body"/>).</summary>
    internal static (string, RecordInput) ParsePutRecord(byte[] body, int length, WireFormat format)
    {
        string? name = null, arn = null, ordering = null;
        var record = new RecordInput();
        var r = WireReader.Create(body, length, format);
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("StreamName"u8))
                name = r.ReadString();
            else if (member.SequenceEqual("StreamARN"u8))
                arn = r.ReadString();
            else if (member.SequenceEqual("SequenceNumberForOrdering"u8))
                ordering = r.ReadString();
            else
                ReadRecordMember(ref r, member, ref record);
        }
        r.ReadRequestEnd();
        var v = new Violations();
        ValidateRecord(v, record, null);
        // Per-shard order is already strict, so the ordering hint only has to be well formed.
        v.SequenceNumber(ordering, "sequenceNumberForOrdering");
        var stream = KinesisStreams.NameOf(v, name, arn);
        v.ThrowIfAny();
        return (stream!, record);
    }

    // ---------------------------------------------------------------- PutRecords

    internal sealed class Batch(int count)
    {
        public readonly RecordInput[] Records = new RecordInput[count];
        public readonly UInt128[] HashKeys = new UInt128[count];
        public readonly int[] ShardIndex = new int[count];
        public readonly ulong[] Ordinal = new ulong[count];
        public readonly string?[] ErrorCode = new string?[count];
        public readonly string?[] ErrorMessage = new string?[count];
        public string EncryptionType = "NONE";
    }

    private async Task PutRecordsAsync(ApiCall call)
    {
        var (name, records) = ParsePutRecords(call);
        var batch = await PutBatchAsync(name, records, call.Aborted);
        await PutRecordsCoreAsync(call, name, records, batch);
    }

    /// <summary>Validates a batch against its stream, appends it, and reports each record's outcome.</summary>
    internal async Task<Batch> PutBatchAsync(string name, List<RecordInput> records, CancellationToken ct)
    {
        var route = await streams.WritableRouteAsync(name);
        var batch = new Batch(records.Count) { EncryptionType = route.EncryptionType };
        var sizes = new int[records.Count];
        long total = 0;
        for (var i = 0; i < records.Count; i++)
        {
            batch.Records[i] = records[i];
            batch.HashKeys[i] = HashKeyOf(records[i], route, i, out sizes[i]);
            total += sizes[i];
        }
        if (total > MaxBatchBytes)
            throw KinesisException.InvalidArgument($"Records size of {total} bytes exceeds the limit of {MaxBatchBytes} bytes for a PutRecords request.");

        var admitted = await AdmitAsync(route, batch, sizes, ct);
        await AppendRoutedAsync(route, batch, admitted, 1, ct);
        return batch;
    }

    /// <summary>
    /// Asks the limiter, in one call for the whole batch, how many records of each shard fit. Each
    /// shard admits a prefix of its records in request order; the rest are marked throttled, so
    /// the accepted records keep their order and none overtakes a refused one of its shard.
    /// </summary>
    private async Task<int[]> AdmitAsync(StreamRoute route, Batch batch, int[] sizes, CancellationToken ct)
    {
        var byShard = new Dictionary<int, List<int>>();
        for (var i = 0; i < sizes.Length; i++)
        {
            // Unroutable records are failed by AppendRoutedAsync; they do not count against a shard.
            if (route.Route(batch.HashKeys[i]) is not { } shard)
                continue;
            if (!byShard.TryGetValue(shard.Index, out var list))
                byShard[shard.Index] = list = [];
            list.Add(i);
        }
        var demands = new List<ShardWriteDemand>(byShard.Count);
        var groups = new List<List<int>>(byShard.Count);
        foreach (var (shardIndex, list) in byShard)
        {
            var groupSizes = new int[list.Count];
            for (var j = 0; j < list.Count; j++)
                groupSizes[j] = sizes[list[j]];
            demands.Add(new ShardWriteDemand(shardIndex, groupSizes));
            groups.Add(list);
        }
        var granted = await limiter.AcquireWritesAsync(new StreamKey(route.StreamId, route.Name), demands, ct);
        traffic.PutRecords(route.StreamId, demands, granted, groups, batch);
        var refused = new HashSet<int>();
        for (var g = 0; g < groups.Count; g++)
        {
            var list = groups[g];
            if (granted[g] >= list.Count)
                continue;
            var shardIndex = demands[g].ShardIndex;
            metrics.WriteThrottled(route.Name, shardIndex, list.Count - granted[g]);
            var message = $"Rate exceeded for shard {ShardIds.Format(shardIndex)} in stream {route.Name} under account {Account}.";
            for (var j = granted[g]; j < list.Count; j++)
            {
                Fail(batch, list[j], ErrorTypes.ProvisionedThroughputExceeded, message);
                refused.Add(list[j]);
            }
        }
        if (refused.Count == 0)
            return [.. Enumerable.Range(0, sizes.Length)];
        return [.. Enumerable.Range(0, sizes.Length).Where(i => !refused.Contains(i))];
    }

    private async Task PutRecordsCoreAsync(ApiCall call, string name, List<RecordInput> records, Batch batch)
    {
        var failed = 0;
        using var w = call.Writer(64 + records.Count * 96);
        w.StartObject();
        w.StartArray("Records");
        for (var i = 0; i < records.Count; i++)
        {
            w.StartObject();
            if (batch.ErrorCode[i] is { } code)
            {
                failed++;
                w.String("ErrorCode", code);
                w.String("ErrorMessage", batch.ErrorMessage[i]);
            }
            else
            {
                w.String("SequenceNumber", new SequenceNumber(batch.ShardIndex[i], batch.Ordinal[i]).ToString());
                w.String("ShardId", ShardIds.Format(batch.ShardIndex[i]));
            }
            w.EndObject();
        }
        w.EndArray();
        w.Number("FailedRecordCount", failed);
        w.String("EncryptionType", batch.EncryptionType);
        w.EndObject();
        await call.RespondAsync(w);
    }

    /// <summary>
    /// Groups the records by shard (keeping their given order within each shard) and appends every
    /// group to its owner concurrently. A group refused for routing (moved or sealed shard) is routed
    /// again on a fresh table; a group that still fails marks its records failed, so one bad shard never
    /// fails the records of the others.
    /// </summary>
    private async Task AppendRoutedAsync(StreamRoute route, Batch batch, int[] indexes, int attempt, CancellationToken ct)
    {
        var groups = new Dictionary<int, List<int>>();
        foreach (var i in indexes)
        {
            var shard = route.Route(batch.HashKeys[i]);
            if (shard is null)
            {
                Fail(batch, i, ErrorTypes.InternalFailure, "Internal service failure.");
                continue;
            }
            if (!groups.TryGetValue(shard.Index, out var list))
                groups[shard.Index] = list = [];
            list.Add(i);
        }
        if (groups.Count == 1)
        {
            foreach (var (shardIndex, list) in groups)
                await AppendGroupAsync(route, route.Shard(shardIndex)!, batch, list, attempt, ct);
            return;
        }
        var tasks = new List<Task>(groups.Count);
        foreach (var (shardIndex, list) in groups)
            tasks.Add(AppendGroupAsync(route, route.Shard(shardIndex)!, batch, list, attempt, ct));
        await Task.WhenAll(tasks);
    }

    private async Task AppendGroupAsync(StreamRoute route, ShardRoute shard, Batch batch, List<int> indexes, int attempt, CancellationToken ct)
    {
        var records = new AppendRecord[indexes.Count];
        for (var j = 0; j < records.Length; j++)
        {
            ref readonly var input = ref batch.Records[indexes[j]];
            records[j] = new AppendRecord(input.PartitionKey!, input.Data!.Value);
        }
        try
        {
            var result = await stores.ForNode(shard.NodeId).AppendAsync(route.RefOf(shard), shard.Epoch, records, ct);
            long bytes = 0;
            foreach (var record in records)
                bytes += record.Data.Length + Encoding.UTF8.GetByteCount(record.PartitionKey);
            metrics.RecordsIn(route.Name, shard.Index, records.Length, bytes);
            for (var j = 0; j < indexes.Count; j++)
            {
                batch.ShardIndex[indexes[j]] = shard.Index;
                batch.Ordinal[indexes[j]] = result.FirstOrdinal + (ulong)j;
            }
        }
        catch (Exception e) when ((IsRoutingMiss(e) || e is ShardNotFoundException) && attempt < RouteAttemptsAfter(e))
        {
            var fresh = e is ShardSealedException ? await SuccessorRouteAsync(route, shard.Index, ct) : await routes.RefreshAsync(route);
            if (fresh is null || !RouteCache.IsWritable(fresh.Status))
            {
                foreach (var i in indexes)
                    Fail(batch, i, ErrorTypes.ResourceNotFound, $"Stream {route.Name} under account {Account} not found.");
                return;
            }
            await AppendRoutedAsync(fresh, batch, [.. indexes], attempt + 1, ct);
        }
        catch (KinesisException e) when (e.Type == ErrorTypes.ProvisionedThroughputExceeded)
        {
            foreach (var i in indexes)
                Fail(batch, i, ErrorTypes.ProvisionedThroughputExceeded, "Rate exceeded for shard " + ShardIds.Format(shard.Index) + " in stream " + route.Name + " under account " + Account + ".");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "Append to shard {Shard} of stream {Stream} on node {Node} failed", shard.Index, route.Name, shard.NodeId);
            foreach (var i in indexes)
                Fail(batch, i, ErrorTypes.InternalFailure, "Internal service failure.");
        }
    }

    private static void Fail(Batch batch, int i, string code, string message)
    {
        batch.ErrorCode[i] = code;
        batch.ErrorMessage[i] = message;
    }

    private static (string, List<RecordInput>) ParsePutRecords(ApiCall call) => ParsePutRecords(call.Body, call.Length, call.Format);

    /// <summary>Reads and validates a PutRecords body (record data is decoded in place in <paramref name="body"/>).</summary>
    internal static (string, List<RecordInput>) ParsePutRecords(byte[] body, int length, WireFormat format)
    {
        string? name = null, arn = null;
        List<RecordInput>? records = null;
        var r = WireReader.Create(body, length, format);
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("StreamName"u8))
                name = r.ReadString();
            else if (member.SequenceEqual("StreamARN"u8))
                arn = r.ReadString();
            else if (member.SequenceEqual("Records"u8))
            {
                if (!r.ReadStartArray())
                    continue;
                records = new List<RecordInput>(64);
                while (r.TryReadArrayItem())
                {
                    var record = new RecordInput();
                    if (r.ReadStartObject())
                        while (r.TryReadPropertyName(out var field))
                            ReadRecordMember(ref r, field, ref record);
                    records.Add(record);
                }
            }
            else
                r.Skip();
        }
        r.ReadRequestEnd();
        var v = new Violations();
        v.NotNull("records", records);
        v.ListLength("records", records is null ? null : Violations.StructureTexts("PutRecordsRequestEntry", records.Count), 1, MaxBatchRecords);
        if (records is not null)
            for (var i = 0; i < records.Count; i++)
                ValidateRecord(v, records[i], i);
        var stream = KinesisStreams.NameOf(v, name, arn);
        v.ThrowIfAny();
        return (stream!, records!);
    }

    // ---------------------------------------------------------------- GetShardIterator

    private async Task GetShardIteratorAsync(ApiCall call)
    {
        string? name = null, arn = null, shardId = null, type = null, startSeq = null;
        long? timestamp = null;
        {
            var r = call.Reader();
            ParseGetShardIterator(ref r, ref name, ref arn, ref shardId, ref type, ref startSeq, ref timestamp);
        }
        var v = new Violations();
        v.NotNull("shardId", shardId);
        v.ShardId(shardId, "shardId");
        v.NotNull("shardIteratorType", type);
        v.Enum("shardIteratorType", type, IteratorTypes);
        v.SequenceNumber(startSeq, "startingSequenceNumber");
        var stream = KinesisStreams.NameOf(v, name, arn)!;
        v.ThrowIfAny();

        var route = await streams.WritableRouteAsync(stream);
        if (!ShardIds.TryParse(shardId, out var index))
            throw KinesisException.ResourceNotFound($"Could not find shard {shardId} in stream {stream} under account {Account}.");
        var canonical = ShardIds.Format(index);
        var shard = route.Shard(index)
            ?? throw KinesisException.ResourceNotFound($"Shard {canonical} in stream {stream} under account {Account} does not exist");
        if (!await limiter.TryAcquireShardIteratorAsync(new StreamKey(route.StreamId, route.Name), index, call.Aborted))
            throw ShardRateExceeded(route.Name, index);

        ulong ordinal;
        switch (type)
        {
            case "AT_SEQUENCE_NUMBER" or "AFTER_SEQUENCE_NUMBER":
                if (startSeq is null)
                    throw KinesisException.InvalidArgument(
                        $"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {type} and no StartingSequenceNumber.");
                if (!SequenceNumber.TryParse(startSeq, out var seq))
                    throw KinesisException.InvalidArgument(
                        $"StartingSequenceNumber {startSeq} used in GetShardIterator on shard {canonical} in stream {stream} under account {Account} is invalid.");
                if (seq.ShardIndex != index)
                    throw KinesisException.InvalidArgument(
                        $"Invalid StartingSequenceNumber. It encodes {ShardIds.Format(seq.ShardIndex)}, while it was used in a call to a shard with {canonical}");
                ordinal = type == "AT_SEQUENCE_NUMBER" ? seq.Ordinal : seq.Ordinal + 1;
                break;
            case "TRIM_HORIZON" or "LATEST":
                if (startSeq is not null)
                    throw KinesisException.InvalidArgument(
                        $"Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified {type} and also a StartingSequenceNumber.");
                // Ordinal 0 reads from the oldest retained record, wherever the trim point is.
                ordinal = type == "LATEST"
                    ? (await WithOwnerAsync(route, shard, (s, r, c) => s.GetStateAsync(r, c), call.Aborted)).NextOrdinal
                    : 0;
                break;
            default:
                if (timestamp is not { } at)
                    throw KinesisException.InvalidArgument(
                        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.");
                var now = time.GetUtcNow().ToUnixTimeMilliseconds();
                if (at > now)
                    throw KinesisException.InvalidArgument(
                        $"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {at}, currentTimestampInMillis: {now}");
                ordinal = await WithOwnerAsync(route, shard, (s, r, c) => s.FindOrdinalAsync(r, at, c), call.Aborted);
                break;
        }

        using var w = call.Writer(128);
        w.StartObject();
        w.String("ShardIterator", iterators.Encode(route.StreamId, index, ordinal));
        w.EndObject();
        await call.RespondAsync(w);
    }

    private static void ParseGetShardIterator(ref WireReader r, ref string? name, ref string? arn, ref string? shardId,
        ref string? type, ref string? startSeq, ref long? timestamp)
    {
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("StreamName"u8))
                name = r.ReadString();
            else if (member.SequenceEqual("StreamARN"u8))
                arn = r.ReadString();
            else if (member.SequenceEqual("ShardId"u8))
                shardId = r.ReadString();
            else if (member.SequenceEqual("ShardIteratorType"u8))
                type = r.ReadString();
            else if (member.SequenceEqual("StartingSequenceNumber"u8))
                startSeq = r.ReadString();
            else if (member.SequenceEqual("Timestamp"u8))
                timestamp = r.ReadTimestamp();
            else
                r.Skip();
        }
        r.ReadRequestEnd();
    }

    /// <summary>Runs a read-side call on a shard's owner, following the shard once if it moved.</summary>
    private async Task<T> WithOwnerAsync<T>(StreamRoute route, ShardRoute shard, Func<IShardStore, ShardRef, CancellationToken, Task<T>> action, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await action(stores.ForNode(shard.NodeId), route.RefOf(shard), ct);
            }
            catch (ShardNotOwnedException) when (attempt < MaxRouteAttempts)
            {
                var fresh = await routes.RefreshAsync(route);
                var moved = fresh?.Shard(shard.Index);
                if (fresh is null || moved is null)
                    throw ShardMissing(route.Name, shard.Index);
                (route, shard) = (fresh, moved);
            }
            catch (ShardNotFoundException)
            {
                throw ShardMissing(route.Name, shard.Index);
            }
        }
    }

    private KinesisException ShardMissing(string stream, int index) =>
        KinesisException.ResourceNotFound($"Shard {ShardIds.Format(index)} in stream {stream} under account {Account} does not exist");

    // ---------------------------------------------------------------- GetRecords

    /// <summary>Reads a GetRecords body: the iterator, the limit and the optional stream ARN.</summary>
    internal static (string? Iterator, long? Limit, string? Arn) ParseGetRecords(byte[] body, int length, WireFormat format)
    {
        string? iterator = null, arn = null;
        long? limit = null;
        var r = WireReader.Create(body, length, format);
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("ShardIterator"u8))
                iterator = r.ReadString();
            else if (member.SequenceEqual("Limit"u8))
                limit = r.ReadInteger();
            else if (member.SequenceEqual("StreamARN"u8))
                arn = r.ReadString();
            else
                r.Skip();
        }
        r.ReadRequestEnd();
        return (iterator, limit, arn);
    }

    private async Task GetRecordsAsync(ApiCall call)
    {
        var (iterator, limit, arn) = ParseGetRecords(call.Body, call.Length, call.Format);
        var v = new Violations();
        v.NotNull("shardIterator", iterator);
        v.Length("shardIterator", iterator, 1, 512);
        v.Range("limit", limit, 1, MaxReadRecords);
        v.StreamArn(arn);
        v.ThrowIfAny();

        var position = iterators.Decode(iterator);
        var route = await routes.FindAsync(position.StreamId);
        if (route is null || !RouteCache.IsWritable(route.Status) || route.Shard(position.ShardIndex) is not { } shard)
            throw KinesisException.ResourceNotFound(
                $"Shard {ShardIds.Format(position.ShardIndex)} in stream {route?.Name ?? "(deleted)"} under account {Account} does not exist");
        if (arn is not null && Arns.TryParseStream(arn, out var arnName) && arnName != route.Name)
            throw KinesisException.InvalidArgument($"The shard iterator does not belong to stream {arn}.");

        var streamKey = new StreamKey(route.StreamId, route.Name);
        if (!await limiter.TryAcquireReadAsync(streamKey, shard.Index, call.Aborted))
        {
            metrics.ReadThrottled(route.Name, shard.Index);
            throw ShardRateExceeded(route.Name, shard.Index);
        }
        var request = new ReadRequest(position.NextOrdinal, (int)(limit ?? MaxReadRecords), MaxReadBytes);
        var result = await WithOwnerAsync(route, shard, (s, r, c) => s.ReadAsync(r, request, c), call.Aborted);
        var endOfShard = false;
        if (result.EndOfShard)
            (route, endOfShard) = await SettledEndAsync(route, shard.Index);
        long outgoing = 0;
        foreach (var record in result.Records)
            outgoing += record.Data.Length + Encoding.UTF8.GetByteCount(record.PartitionKey);
        await limiter.ChargeReadAsync(streamKey, shard.Index, outgoing, call.Aborted);
        metrics.RecordsOut(route.Name, shard.Index, result.Records.Count, outgoing, result.MillisBehindLatest);

        var estimate = 128L;
        foreach (var record in result.Records)
            estimate += record.Data.Length * 4L / 3 + record.PartitionKey.Length + 112;
        // A large JSON answer goes out as it is written, a flush every StreamedChunkBytes, instead of being built whole
        // (up to ~14 MB per call) and then copied into the response: memory per reader stays at one chunk.
        var streamed = call.Format == WireFormat.Json && estimate > StreamedAnswerBytes;
        using var w = streamed ? call.StreamingJsonWriter() : call.Writer((int)Math.Min(estimate, 16 * 1024 * 1024));
        long sentUpTo = 0;
        w.StartObject();
        w.StartArray("Records");
        foreach (var record in result.Records)
        {
            w.StartObject();
            w.String("SequenceNumber", new SequenceNumber(shard.Index, record.Ordinal).ToString());
            w.Timestamp("ApproximateArrivalTimestamp", record.ArrivalUnixMs);
            w.Blob("Data", record.Data.Span);
            w.String("PartitionKey", record.PartitionKey);
            if (record.Encrypted)
                w.String("EncryptionType", "KMS");
            w.EndObject();
            if (streamed && w.BytesWritten - sentUpTo >= StreamedChunkBytes)
            {
                await call.FlushAsync(w);
                sentUpTo = w.BytesWritten;
            }
        }
        w.EndArray();
        if (!endOfShard)
            w.String("NextShardIterator", iterators.Encode(route.StreamId, shard.Index, result.NextOrdinal));
        w.Number("MillisBehindLatest", result.MillisBehindLatest);
        if (endOfShard)
        {
            w.StartArray("ChildShards");
            foreach (var child in route.ChildrenOf(shard.Index))
            {
                w.StartObject();
                w.String("ShardId", ShardIds.Format(child.Index));
                w.StartArray("ParentShards");
                if (child.ParentIndex is { } p)
                    w.StringValue(ShardIds.Format(p));
                if (child.AdjacentParentIndex is { } a)
                    w.StringValue(ShardIds.Format(a));
                w.EndArray();
                w.StartObject("HashKeyRange");
                w.String("StartingHashKey", HashKeys.Format(child.Range.Start));
                w.String("EndingHashKey", HashKeys.Format(child.Range.End));
                w.EndObject();
                w.EndObject();
            }
            w.EndArray();
        }
        w.EndObject();
        if (streamed)
            await call.FlushAsync(w);
        else
            await call.RespondAsync(w);
    }

    // ---------------------------------------------------------------- Writes and reads across a reshard

    /// <summary>How long a write to a sealed shard waits for its children to take over before it fails.</summary>
    private static readonly TimeSpan SuccessorWait = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan SuccessorPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Attempts allowed for a write that met a sealed shard: each seal is followed by a wait for the commit that
    /// replaces the shard, and a multi-round UpdateShardCount may seal the successors again in turn.
    /// </summary>
    private const int MaxSealedAttempts = 8;

    private static int RouteAttemptsAfter(Exception e) => e is ShardSealedException ? MaxSealedAttempts : MaxRouteAttempts;

    /// <summary>
    /// After a write found its shard sealed: waits (bounded) until the stream's table no longer lists the shard
    /// as open, i.e. the resharding committed and its children own the keys, and returns that table. A sealed
    /// parent never takes another write, so the retry lands in a child, after every record the parent holds.
    /// </summary>
    private async Task<StreamRoute?> SuccessorRouteAsync(StreamRoute route, int shardIndex, CancellationToken ct)
    {
        // Real time, not the injectable clock: this waits for another component's progress.
        var deadline = Environment.TickCount64 + (long)SuccessorWait.TotalMilliseconds;
        while (true)
        {
            var fresh = await routes.RefreshAsync(route);
            if (fresh is null || !RouteCache.IsWritable(fresh.Status) || fresh.Shard(shardIndex) is not { IsOpen: true })
                return fresh;
            if (Environment.TickCount64 >= deadline)
                return fresh;
            await Task.Delay(SuccessorPoll, ct);
        }
    }

    /// <summary>
    /// A read reached the end of a sealed shard. Until the resharding commits the children are not in the
    /// table, so the end is not reported yet (the reader polls again at the same place); once committed the
    /// fresh table carries the children for ChildShards.
    /// </summary>
    private async Task<(StreamRoute Route, bool EndOfShard)> SettledEndAsync(StreamRoute route, int shardIndex)
    {
        if (route.Shard(shardIndex) is { IsOpen: false })
            return (route, true);
        var fresh = await routes.RefreshAsync(route);
        if (fresh is not null && fresh.Shard(shardIndex) is { IsOpen: false })
            return (fresh, true);
        return (route, false);
    }
}
