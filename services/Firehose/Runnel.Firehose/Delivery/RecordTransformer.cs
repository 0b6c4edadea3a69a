using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Firehose.Destinations;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.Firehose.Delivery;

/// <summary>What the function made of one record: its new data and the partition keys it returned (Ok), or why it failed.</summary>
public sealed record TransformOutcome(StoredRecord Source, string Result, byte[]? Data, IReadOnlyDictionary<string, string> PartitionKeys,
    int Attempts = 0, string? ErrorCode = null, string? ErrorMessage = null, long EndedUnixMs = 0)
{
    public const string Ok = "Ok";
    public const string Dropped = "Dropped";
    public const string ProcessingFailed = "ProcessingFailed";
}

/// <summary>
/// Calls a delivery stream's Lambda processor with Firehose's transform contract: a POST of
/// <c>{invocationId, deliveryStreamArn, region, records:[{recordId, approximateArrivalTimestamp, data}]}</c> to the
/// function's URL, answered by <c>{records:[{recordId, result, data, metadata:{partitionKeys}}]}</c>. Records go in
/// invocations of at most BufferSizeInMBs of data (and 6 MB of request, Lambda's synchronous payload limit). An invocation
/// that fails (not a 2xx, no answer in 5 minutes, an answer over 6 MB, not the status model, a record id missing or
/// repeated) is tried again up to NumberOfRetries times; then all its records are ProcessingFailed. Connections pass the
/// outbound <see cref="DestinationPolicy"/> (<c>Firehose:AllowedHosts</c>).
/// </summary>
public sealed class RecordTransformer : IDisposable
{
    /// <summary>Lambda's synchronous invocation payload limit, for the request and for the answer.</summary>
    public const int MaxPayloadBytes = 6 * 1024 * 1024;

    /// <summary>The longest invocation Firehose allows a transform function.</summary>
    private static readonly TimeSpan InvocationTimeout = TimeSpan.FromMinutes(5);

    private readonly HttpClient _http;
    private readonly FirehoseMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly FirehoseOptions _options;

    public RecordTransformer(IOptions<FirehoseOptions> options, [FromKeyedServices(FirehoseOptions.Section)] DestinationPolicy policy, FirehoseMetrics metrics, TimeProvider time)
    {
        _options = options.Value;
        Policy = policy;
        _metrics = metrics;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler { ConnectCallback = Policy.ConnectAsync, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = InvocationTimeout,
        };
    }

    public DestinationPolicy Policy { get; }

    /// <summary>
    /// Transforms <paramref name="records"/> (of shard <paramref name="shardIndex"/>) in order. <paramref name="keepAlive"/>
    /// runs between attempts, so the shard's lease outlives the retries.
    /// </summary>
    public async Task<List<TransformOutcome>> TransformAsync(string deliveryStream, string deliveryStreamArn, int shardIndex, LambdaProcessor lambda,
        IReadOnlyList<StoredRecord> records, Func<CancellationToken, Task> keepAlive, ILogger logger, CancellationToken ct)
    {
        var outcomes = new List<TransformOutcome>(records.Count);
        // base64 makes 4 bytes of 3; the rest of the request is a small envelope per record.
        var budget = Math.Min((long)(lambda.BufferSizeInMBs * 1024 * 1024), MaxPayloadBytes * 3L / 4 - 64 * 1024);
        var start = 0;
        while (start < records.Count)
        {
            var end = start;
            long bytes = 0;
            while (end < records.Count && (end == start || bytes + records[end].Data.Length + 128 <= budget))
                bytes += records[end++].Data.Length + 128;
            var chunk = records.Skip(start).Take(end - start).ToList();
            outcomes.AddRange(await InvokeWithRetriesAsync(deliveryStream, deliveryStreamArn, shardIndex, lambda, chunk, keepAlive, logger, ct).ConfigureAwait(false));
            start = end;
        }
        return outcomes;
    }

    private async Task<List<TransformOutcome>> InvokeWithRetriesAsync(string deliveryStream, string arn, int shardIndex, LambdaProcessor lambda,
        List<StoredRecord> chunk, Func<CancellationToken, Task> keepAlive, ILogger logger, CancellationToken ct)
    {
        var ids = chunk.Select(r => RecordId(shardIndex, r)).ToList();
        var body = Request(arn, _options.Region, chunk, ids);
        for (var attempt = 1; ; attempt++)
        {
            var started = Stopwatch.GetTimestamp();
            var (outcomes, code, message) = await InvokeAsync(lambda.LambdaArn, body, chunk, ids, ct).ConfigureAwait(false);
            _metrics.Processed(deliveryStream, Stopwatch.GetElapsedTime(started).TotalMilliseconds, outcomes is not null,
                outcomes?.Count(o => o.Result != TransformOutcome.ProcessingFailed) ?? 0, outcomes?.Sum(o => (long)(o.Data?.Length ?? 0)) ?? 0);
            if (outcomes is not null)
            {
                var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
                return [.. outcomes.Select(o => o.Result == TransformOutcome.ProcessingFailed
                    ? o with { Attempts = attempt, ErrorCode = "Lambda.ProcessingFailedStatus", ErrorMessage = "The function returned the result ProcessingFailed for the record.", EndedUnixMs = now }
                    : o)];
            }
            if (attempt > lambda.NumberOfRetries)
            {
                logger.LogWarning("Firehose {Name}: the transform function {Url} failed {Attempts} times ({Error}: {Message}); {Count} records go to the error prefix",
                    deliveryStream, lambda.LambdaArn, attempt, code, message, chunk.Count);
                var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
                return [.. chunk.Select(r => new TransformOutcome(r, TransformOutcome.ProcessingFailed, null, Empty, attempt, code, message, now))];
            }
            logger.LogInformation("Firehose {Name}: the transform function {Url} failed ({Error}: {Message}); retrying", deliveryStream, lambda.LambdaArn, code, message);
            await keepAlive(ct).ConfigureAwait(false);
            // 1 s doubling to 8 s, each wait between half and all of it, so that replicas do not retry in step.
            var backoff = TimeSpan.FromMilliseconds(1000 * Math.Pow(2, Math.Min(attempt - 1, 3)) * (0.5 + Random.Shared.NextDouble() / 2));
            await Task.Delay(backoff, _time, ct).ConfigureAwait(false);
        }
    }

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    /// <summary>The record id a function sees: the record's place in the source, so the same on every replay.</summary>
    private static string RecordId(int shardIndex, StoredRecord r) => $"{shardIndex}.{r.Ordinal}";

    private static byte[] Request(string arn, string region, List<StoredRecord> chunk, List<string> ids)
    {
        using var output = new MemoryStream();
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteString("invocationId", Guid.NewGuid().ToString());
            w.WriteString("deliveryStreamArn", arn);
            w.WriteString("region", region);
            w.WriteStartArray("records");
            for (var i = 0; i < chunk.Count; i++)
            {
                w.WriteStartObject();
                w.WriteString("recordId", ids[i]);
                w.WriteNumber("approximateArrivalTimestamp", chunk[i].ArrivalUnixMs);
                w.WriteBase64String("data", chunk[i].Data.Span);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return output.ToArray();
    }

    private async Task<(List<TransformOutcome>? Outcomes, string? Code, string? Message)> InvokeAsync(string url, byte[] body, List<StoredRecord> chunk, List<string> ids, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is < 200 or > 299)
                return (null, "Lambda.FunctionError", $"The function answered HTTP {status}.");
            var answer = await ReadLimitedAsync(response.Content, ct).ConfigureAwait(false);
            if (answer is null)
                return (null, "Lambda.FunctionError", $"The function's response is larger than {MaxPayloadBytes} bytes.");
            return Parse(answer, chunk, ids);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, "Lambda.FunctionTimedOut", $"The function did not answer within {InvocationTimeout.TotalMinutes} minutes.");
        }
        catch (HttpRequestException e)
        {
            return (null, "Lambda.FunctionError", $"The function is unreachable: {e.Message}");
        }
    }

    /// <summary>The body, or null when it is longer than Lambda's payload limit.</summary>
    private static async Task<byte[]?> ReadLimitedAsync(HttpContent content, CancellationToken ct)
    {
        if (content.Headers.ContentLength > MaxPayloadBytes)
            return null;
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxPayloadBytes)
                return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>Reads the answer against the status model; any departure fails the whole invocation, as in Firehose.</summary>
    private static (List<TransformOutcome>? Outcomes, string? Code, string? Message) Parse(byte[] answer, List<StoredRecord> chunk, List<string> ids)
    {
        TransformAnswer? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(answer, TransformJson.Default.TransformAnswer);
        }
        catch (JsonException e)
        {
            return (null, "Lambda.JsonProcessingException", $"The response is not the transform status model: {e.Message}");
        }
        if (parsed?.Records is not { } answered)
            return (null, "Lambda.JsonProcessingException", "The response has no records list.");
        var byId = new Dictionary<string, TransformAnswerRecord>(StringComparer.Ordinal);
        foreach (var r in answered)
        {
            if (r?.RecordId is not { } id)
                return (null, "Lambda.JsonProcessingException", "A returned record has no recordId.");
            if (!byId.TryAdd(id, r))
                return (null, "Lambda.DuplicatedRecordId", $"The record id {id} was returned more than once.");
        }
        var outcomes = new List<TransformOutcome>(chunk.Count);
        for (var i = 0; i < chunk.Count; i++)
        {
            if (!byId.Remove(ids[i], out var r))
                return (null, "Lambda.MissingRecordId", $"The record id {ids[i]} was not returned.");
            if (r.Result is not (TransformOutcome.Ok or TransformOutcome.Dropped or TransformOutcome.ProcessingFailed))
                return (null, "Lambda.JsonProcessingException", $"The record {ids[i]} has the result '{r.Result}', not Ok, Dropped or ProcessingFailed.");
            byte[]? data = null;
            if (r.Result == TransformOutcome.Ok)
            {
                try
                {
                    data = r.Data is { } text ? Convert.FromBase64String(text) : null;
                }
                catch (FormatException)
                {
                    return (null, "Lambda.JsonProcessingException", $"The data of record {ids[i]} is not base64.");
                }
                if (data is null)
                    return (null, "Lambda.JsonProcessingException", $"The record {ids[i]} is Ok but has no data.");
            }
            var keys = new Dictionary<string, string>(StringComparer.Ordinal);
            if (r.Metadata?.PartitionKeys is { } returned)
            {
                foreach (var (name, value) in returned)
                {
                    switch (value.ValueKind)
                    {
                        case JsonValueKind.String:
                            keys[name] = value.GetString()!;
                            break;
                        case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                            keys[name] = value.GetRawText();
                            break;
                        default:
                            return (null, "Lambda.JsonProcessingException", $"The partition key {name} of record {ids[i]} is not a string.");
                    }
                }
            }
            outcomes.Add(new TransformOutcome(chunk[i], r.Result, data, keys));
        }
        if (byId.Count > 0)
            return (null, "Lambda.JsonProcessingException", $"The response names the record id {byId.Keys.First()}, which was not sent.");
        return (outcomes, null, null);
    }

    public void Dispose() => _http.Dispose();
}

internal sealed record TransformAnswer([property: JsonPropertyName("records")] List<TransformAnswerRecord?>? Records);

internal sealed record TransformAnswerRecord(
    [property: JsonPropertyName("recordId")] string? RecordId,
    [property: JsonPropertyName("result")] string? Result,
    [property: JsonPropertyName("data")] string? Data,
    [property: JsonPropertyName("metadata")] TransformAnswerMetadata? Metadata);

internal sealed record TransformAnswerMetadata([property: JsonPropertyName("partitionKeys")] Dictionary<string, JsonElement>? PartitionKeys);

/// <summary>A record that could not be processed or partitioned, as Firehose writes it under the error prefix (one JSON object a line).</summary>
public sealed record ProcessingFailedRecord(
    [property: JsonPropertyName("attemptsMade")] int AttemptsMade,
    [property: JsonPropertyName("arrivalTimestamp")] long ArrivalTimestamp,
    [property: JsonPropertyName("errorCode")] string ErrorCode,
    [property: JsonPropertyName("errorMessage")] string ErrorMessage,
    [property: JsonPropertyName("attemptEndingTimestamp")] long AttemptEndingTimestamp,
    [property: JsonPropertyName("rawData")] string RawData,
    [property: JsonPropertyName("lambdaArn"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? LambdaArn);

[JsonSerializable(typeof(TransformAnswer))]
[JsonSerializable(typeof(ProcessingFailedRecord))]
internal sealed partial class TransformJson : JsonSerializerContext;
