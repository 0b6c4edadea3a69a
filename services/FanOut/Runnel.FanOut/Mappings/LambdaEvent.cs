using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Runnel.Core.Storage;
using Runnel.Core.Streams;

namespace Runnel.FanOut.Mappings;

/// <summary>What a mapping hands the function: the source and the identity its records are labelled with.</summary>
public sealed record EventSource(string StreamArn, string ShardId, int ShardIndex, string Region, string AccountId);

/// <summary>The outcome of one invocation as delivery sees it.</summary>
public sealed record InvokeOutcome(bool Succeeded, int? StatusCode, string? Error, string? FirstFailedSequenceNumber)
{
    public static InvokeOutcome Success(int status) => new(true, status, null, null);
    public static InvokeOutcome Failure(int? status, string error) => new(false, status, error, null);
}

/// <summary>
/// The JSON AWS Lambda receives from a Kinesis event source mapping, byte for byte in member order, the reading of a
/// partial batch response, and the invocation record written to an on-failure destination.
/// </summary>
public static class LambdaEvent
{
    /// <summary>Members of a record besides its data: an upper bound used to keep a payload under 6 MiB.</summary>
    public const int RecordOverheadBytes = 640;

    public const int MaxPayloadBytes = 6 * 1024 * 1024;

    public static int EstimatedSize(StoredRecord r) => (r.Data.Length + 2) / 3 * 4 + r.PartitionKey.Length * 6 + RecordOverheadBytes;

    public static byte[] Build(IReadOnlyList<StoredRecord> records, EventSource source)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + records.Sum(EstimatedSize));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            WriteRecords(w, "Records", records, source);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static void WriteRecords(Utf8JsonWriter w, string name, IReadOnlyList<StoredRecord> records, EventSource source)
    {
        var identity = $"arn:aws:iam::{source.AccountId}:role/runnel-event-source-mapping";
        w.WriteStartArray(name);
        foreach (var r in records)
        {
            var seq = new SequenceNumber(source.ShardIndex, r.Ordinal).ToString();
            w.WriteStartObject();
            w.WriteStartObject("kinesis");
            w.WriteString("kinesisSchemaVersion", "1.0");
            w.WriteString("partitionKey", r.PartitionKey);
            w.WriteString("sequenceNumber", seq);
            w.WriteBase64String("data", r.Data.Span);
            w.WriteNumber("approximateArrivalTimestamp", r.ArrivalUnixMs / 1000.0);
            w.WriteEndObject();
            w.WriteString("eventSource", "aws:kinesis");
            w.WriteString("eventVersion", "1.0");
            w.WriteString("eventID", source.ShardId + ":" + seq);
            w.WriteString("eventName", "aws:kinesis:record");
            w.WriteString("invokeIdentityArn", identity);
            w.WriteString("awsRegion", source.Region);
            w.WriteString("eventSourceARN", source.StreamArn);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>
    /// Reads a 2xx answer under ReportBatchItemFailures. An empty body, <c>null</c>, <c>{}</c> or an empty or null
    /// <c>batchItemFailures</c> is full success. Otherwise every itemIdentifier must be a sequence number of the batch,
    /// and the records from the lowest one on are retried. Anything else fails the whole batch.
    /// </summary>
    public static InvokeOutcome ReadBatchResponse(ReadOnlySpan<byte> body, int status, IReadOnlyList<StoredRecord> batch, int shardIndex)
    {
        if (body.Trim(" \t\r\n"u8).IsEmpty)
            return InvokeOutcome.Success(status);
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Null)
                return InvokeOutcome.Success(status);
            if (root.ValueKind != JsonValueKind.Object)
                return InvokeOutcome.Failure(status, "The function's answer is not a batch response object.");
            if (!root.TryGetProperty("batchItemFailures", out var failures) || failures.ValueKind == JsonValueKind.Null)
                return InvokeOutcome.Success(status);
            if (failures.ValueKind != JsonValueKind.Array)
                return InvokeOutcome.Failure(status, "batchItemFailures is not a list.");
            ulong? lowest = null;
            foreach (var f in failures.EnumerateArray())
            {
                if (f.ValueKind != JsonValueKind.Object || !f.TryGetProperty("itemIdentifier", out var id) || id.ValueKind != JsonValueKind.String
                    || !SequenceNumber.TryParse(id.GetString(), out var seq) || seq.ShardIndex != shardIndex
                    || !batch.Any(r => r.Ordinal == seq.Ordinal))
                    return InvokeOutcome.Failure(status, "batchItemFailures names an item that is not in the batch.");
                lowest = lowest is { } l ? Math.Min(l, seq.Ordinal) : seq.Ordinal;
            }
            return lowest is { } first
                ? new InvokeOutcome(false, status, "The function reported failed items.", new SequenceNumber(shardIndex, first).ToString())
                : InvokeOutcome.Success(status);
        }
        catch (JsonException)
        {
            return InvokeOutcome.Failure(status, "The function's answer is not valid JSON.");
        }
    }

    /// <summary>
    /// AWS's invocation record for a Kinesis batch that was discarded, plus <c>runnelRecords</c> (the batch in the
    /// shape the function received it) when the whole record stays under <paramref name="maxBytes"/>.
    /// </summary>
    public static byte[] FailureRecord(
        IReadOnlyList<StoredRecord> batch, EventSource source, string functionUrl, string condition, int invokeCount,
        InvokeOutcome? last, DateTimeOffset now, int maxBytes)
    {
        byte[] Render(bool withRecords)
        {
            var buffer = new ArrayBufferWriter<byte>(1024);
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteStartObject("requestContext");
                w.WriteString("requestId", Guid.NewGuid().ToString());
                w.WriteString("functionArn", functionUrl);
                w.WriteString("condition", condition);
                w.WriteNumber("approximateInvokeCount", invokeCount);
                w.WriteEndObject();
                w.WriteStartObject("responseContext");
                w.WriteNumber("statusCode", last?.StatusCode ?? 0);
                w.WriteString("executedVersion", "$LATEST");
                w.WriteString("functionError", last?.Error ?? "");
                w.WriteEndObject();
                w.WriteString("version", "1.0");
                w.WriteString("timestamp", Iso(now));
                w.WriteStartObject("KinesisBatchInfo");
                w.WriteString("shardId", source.ShardId);
                w.WriteString("startSequenceNumber", new SequenceNumber(source.ShardIndex, batch[0].Ordinal).ToString());
                w.WriteString("endSequenceNumber", new SequenceNumber(source.ShardIndex, batch[^1].Ordinal).ToString());
                w.WriteString("approximateArrivalOfFirstRecord", Iso(DateTimeOffset.FromUnixTimeMilliseconds(batch[0].ArrivalUnixMs)));
                w.WriteString("approximateArrivalOfLastRecord", Iso(DateTimeOffset.FromUnixTimeMilliseconds(batch[^1].ArrivalUnixMs)));
                w.WriteNumber("batchSize", batch.Count);
                w.WriteString("streamArn", source.StreamArn);
                w.WriteEndObject();
                if (withRecords)
                    WriteRecords(w, "runnelRecords", batch, source);
                w.WriteEndObject();
            }
            return buffer.WrittenSpan.ToArray();
        }

        var full = Render(withRecords: true);
        return full.Length <= maxBytes ? full : Render(withRecords: false);
    }

    private static string Iso(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
