using System.Text;
using System.Text.Json;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Firehose.Delivery.Partitioning;
using Runnel.Firehose.Destinations;

namespace Runnel.Firehose.Delivery;

/// <summary>
/// Record transformation and dynamic partitioning of an S3 destination. They run when a buffered range is written, so the
/// rule of exactly-once delivery is unchanged: every object of a range (one per partition, one per error output type) has
/// a key derived from the range, and a replay re-runs the processors over the same records and rewrites the same keys.
/// </summary>
public sealed partial class ShardDelivery
{
    public const string ProcessingFailedType = "processing-failed";
    public const string PartitioningFailedType = "partitioning-failed";

    /// <summary>Partitions one flush may have; records of further partitions go to the error prefix (AWS's active partition limit).</summary>
    public const int MaxActivePartitions = 500;

    private sealed record Partition(PartitionValues? Keys, List<StoredRecord> Records);

    private async Task WriteProcessedAsync(ProcessingSettings processing, IReadOnlyList<StoredRecord> records, ulong first, ulong last, CancellationToken ct)
    {
        var source = new ObjectSource(_d.Id, _shardIndex, first, last, records[0].ArrivalUnixMs);
        var failedProcessing = new List<ProcessingFailedRecord>();
        var failedPartitioning = new List<ProcessingFailedRecord>();
        List<TransformOutcome> outcomes;
        if (processing.Enabled && processing.Lambda is { } lambda)
        {
            var arn = Arns.DeliveryStream(options.Region, options.AccountId, _d.Name);
            outcomes = await transformer.TransformAsync(_d.Name, arn, _shardIndex, lambda, records, context.Lease.RenewAsync, logger, ct).ConfigureAwait(false);
        }
        else
        {
            outcomes = [.. records.Select(r => new TransformOutcome(r, TransformOutcome.Ok, null, EmptyKeys))];
        }

        var prefix = PrefixTemplate.Parse(_destination.Prefix ?? "", "Prefix", _destination.Partitioned);
        var query = processing is { Enabled: true, MetadataExtractionQuery: { } q } ? JqQuery.ParseKeys(q) : null;
        var delimiter = processing.Enabled && processing.Delimiter is not null ? processing.DelimiterBytes() : [];
        var partitions = new Dictionary<string, Partition>(StringComparer.Ordinal);
        var order = new List<Partition>();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var o in outcomes)
        {
            if (o.Result == TransformOutcome.Dropped)
                continue;
            if (o.Result == TransformOutcome.ProcessingFailed)
            {
                failedProcessing.Add(new ProcessingFailedRecord(o.Attempts, o.Source.ArrivalUnixMs, o.ErrorCode ?? "", o.ErrorMessage ?? "", o.EndedUnixMs,
                    Convert.ToBase64String(o.Source.Data.Span), processing.Lambda?.LambdaArn));
                continue;
            }
            var whole = o.Data ?? o.Source.Data.ToArray();
            List<byte[]> parts;
            try
            {
                parts = processing.Enabled && processing.SubRecordType is { } type ? RecordDeAggregation.Split(whole, type, processing.SubRecordDelimiter) : [whole];
            }
            catch (FormatException e)
            {
                failedPartitioning.Add(PartitioningFailure(o.Source, whole, "RecordDeAggregation.Failed", e.Message, now));
                continue;
            }
            foreach (var data in parts)
                Place(o, data);
        }

        void Place(TransformOutcome o, byte[] data)
        {
            PartitionValues? keys = null;
            var partitionId = "";
            if (_destination.Partitioned)
            {
                try
                {
                    keys = new PartitionValues(query is null ? EmptyKeys : JqQuery.Evaluate(query, data), o.PartitionKeys);
                    partitionId = PartitionId(prefix, keys);
                }
                catch (JqException e)
                {
                    failedPartitioning.Add(PartitioningFailure(o.Source, data, "DynamicPartitioning.MetadataExtractionFailed", e.Message, now));
                    return;
                }
            }
            if (!partitions.TryGetValue(partitionId, out var partition))
            {
                if (partitions.Count == MaxActivePartitions)
                {
                    failedPartitioning.Add(PartitioningFailure(o.Source, data, "DynamicPartitioning.PartitionCountExceeded",
                        $"The records being delivered have more than {MaxActivePartitions} partitions.", now));
                    return;
                }
                partitions[partitionId] = partition = new Partition(keys, []);
                order.Add(partition);
            }
            partition.Records.Add(o.Source with { Data = delimiter.Length == 0 ? data : [.. data, .. delimiter] });
        }

        for (var i = 0; i < order.Count; i++)
        {
            var p = order[i];
            var key = ObjectNames.Key(_d.Name, _d.VersionId, _destination, source with { OldestArrivalUnixMs = p.Records[0].ArrivalUnixMs }, null, p.Keys, i);
            var content = ObjectEncoding.Encode(p.Records, _destination.CompressionFormat, key);
            await PutAsync(key, content, ObjectEncoding.ContentType(_destination.CompressionFormat), ct).ConfigureAwait(false);
            metrics.Delivered(_d.Name, p.Records.Count, content.Length, p.Records[0].ArrivalUnixMs, time.GetUtcNow().ToUnixTimeMilliseconds());
        }
        if (failedProcessing.Count > 0)
            await PutFailedAsync(source, ProcessingFailedType, failedProcessing, ct).ConfigureAwait(false);
        if (failedPartitioning.Count > 0)
            await PutFailedAsync(source, PartitioningFailedType, failedPartitioning, ct).ConfigureAwait(false);
    }

    private static readonly IReadOnlyDictionary<string, string> EmptyKeys = new Dictionary<string, string>();

    /// <summary>The values of the keys the prefix uses, which is what makes two records share an object; a missing key fails the record.</summary>
    private static string PartitionId(PrefixTemplate prefix, PartitionValues keys)
    {
        var id = new StringBuilder();
        foreach (var (fromLambda, names) in (ReadOnlySpan<(bool, IEnumerable<string>)>)[(false, prefix.QueryKeys), (true, prefix.LambdaKeys)])
        {
            foreach (var name in names)
            {
                var value = keys.Get(fromLambda, name)
                    ?? throw new JqException($"the partition key {name} is missing from the {(fromLambda ? "function's metadata" : "MetadataExtractionQuery's result")}.");
                if (value.Length == 0 || value.Length > 1024)
                    throw new JqException($"the partition key {name} must be 1 to 1024 characters, not {value.Length}.");
                id.Append(fromLambda ? 'L' : 'Q').Append(name).Append('\0').Append(value).Append('\0');
            }
        }
        return id.ToString();
    }

    private static ProcessingFailedRecord PartitioningFailure(StoredRecord source, byte[] data, string code, string message, long now) =>
        new(1, source.ArrivalUnixMs, code, message, now, Convert.ToBase64String(data), null);

    /// <summary>Failed records of one error output type, one JSON object a line, under the error prefix, with a key derived from the range.</summary>
    private async Task PutFailedAsync(ObjectSource source, string errorOutputType, List<ProcessingFailedRecord> failed, CancellationToken ct)
    {
        var text = new StringBuilder();
        foreach (var f in failed)
            text.Append(JsonSerializer.Serialize(f, TransformJson.Default.ProcessingFailedRecord)).Append('\n');
        var key = ObjectNames.Key(_d.Name, _d.VersionId, _destination with { CompressionFormat = Compressions.Uncompressed, FileExtension = null },
            source with { OldestArrivalUnixMs = failed[0].ArrivalTimestamp }, errorOutputType);
        await PutAsync(key, Encoding.UTF8.GetBytes(text.ToString()), "application/json", ct).ConfigureAwait(false);
    }
}
