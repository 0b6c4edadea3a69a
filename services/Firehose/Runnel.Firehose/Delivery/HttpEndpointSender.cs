using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using Runnel.Core.Storage;
using Runnel.Firehose.Destinations;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.Firehose.Delivery;

/// <summary>The outcome of one POST to an HTTP endpoint; on failure the error code AWS reports for it.</summary>
public readonly record struct HttpAttempt(bool Delivered, string? ErrorCode, string? ErrorMessage);

/// <summary>
/// Sends batches with Firehose's HTTP endpoint delivery contract (protocol version 1.0): a POST of
/// <c>{"requestId","timestamp","records":[{"data"}]}</c> with the X-Amz-Firehose-* headers, optionally GZIP-encoded. Only
/// a 200 whose JSON body echoes the request id counts as delivered. Endpoints are checked against
/// <c>Firehose:AllowedHosts</c> on every connection (<see cref="DestinationPolicy"/>).
/// </summary>
public sealed class HttpEndpointSender : IDisposable
{
    /// <summary>How long an endpoint has to answer, as in AWS.</summary>
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromMinutes(3);

    private readonly HttpClient _http;
    private readonly TimeProvider _time;

    public HttpEndpointSender([FromKeyedServices(FirehoseOptions.Section)] DestinationPolicy policy, TimeProvider time)
    {
        Policy = policy;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler { ConnectCallback = Policy.ConnectAsync, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = ResponseTimeout,
        };
    }

    public DestinationPolicy Policy { get; }

    public async Task<HttpAttempt> SendAsync(HttpEndpointDestination destination, string requestId, IReadOnlyList<StoredRecord> records, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, destination.Url);
        var body = Body(requestId, _time.GetUtcNow().ToUnixTimeMilliseconds(), records);
        if (destination.ContentEncoding == "GZIP")
        {
            using var compressed = new MemoryStream();
            using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                gzip.Write(body);
            body = compressed.ToArray();
        }
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new("application/json");
        if (destination.ContentEncoding == "GZIP")
            request.Content.Headers.ContentEncoding.Add("gzip");
        request.Headers.TryAddWithoutValidation("X-Amz-Firehose-Protocol-Version", "1.0");
        request.Headers.TryAddWithoutValidation("X-Amz-Firehose-Request-Id", requestId);
        if (destination.AccessKey is not null)
            request.Headers.TryAddWithoutValidation("X-Amz-Firehose-Access-Key", destination.AccessKey);
        if (destination.CommonAttributes.Count > 0)
            request.Headers.TryAddWithoutValidation("X-Amz-Firehose-Common-Attributes", JsonSerializer.Serialize(new { commonAttributes = destination.CommonAttributes }));
        try
        {
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            var answer = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
                return new(false, "HttpEndpoint.DestinationException", $"The endpoint answered {(int)response.StatusCode}.");
            return EchoesRequestId(answer, requestId)
                ? new(true, null, null)
                : new(false, "HttpEndpoint.InvalidResponseFromDestination", "The response body is not JSON whose requestId is the request's.");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new(false, "HttpEndpoint.RequestTimeout", $"The endpoint did not answer within {ResponseTimeout.TotalMinutes} minutes.");
        }
        catch (HttpRequestException e)
        {
            return new(false, "HttpEndpoint.ConnectionFailed", e.Message);
        }
    }

    private static byte[] Body(string requestId, long timestamp, IReadOnlyList<StoredRecord> records)
    {
        using var output = new MemoryStream();
        using (var w = new Utf8JsonWriter(output))
        {
            w.WriteStartObject();
            w.WriteString("requestId", requestId);
            w.WriteNumber("timestamp", timestamp);
            w.WriteStartArray("records");
            foreach (var r in records)
            {
                w.WriteStartObject();
                w.WriteBase64String("data", r.Data.Span);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return output.ToArray();
    }

    private static bool EchoesRequestId(byte[] answer, string requestId)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("requestId", out var id)
                && id.ValueKind == JsonValueKind.String && id.GetString() == requestId;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// The failed records in the shape Firehose writes them to the backup bucket: one JSON object per line with the
    /// attempts made, the error and the record's data in base64.
    /// </summary>
    public static byte[] FailedRecords(IReadOnlyList<StoredRecord> records, int shardIndex, int attempts, HttpAttempt last, long endedUnixMs)
    {
        var builder = new StringBuilder();
        foreach (var r in records)
        {
            builder.Append(JsonSerializer.Serialize(new FailedRecord(attempts, r.ArrivalUnixMs, last.ErrorCode ?? "", last.ErrorMessage ?? "", endedUnixMs,
                Convert.ToBase64String(r.Data.Span), 0, $"{shardIndex}.{r.Ordinal}"), FailedRecordJson.Default.FailedRecord));
            builder.Append('\n');
        }
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    public void Dispose() => _http.Dispose();
}

public sealed record FailedRecord(
    [property: System.Text.Json.Serialization.JsonPropertyName("attemptsMade")] int AttemptsMade,
    [property: System.Text.Json.Serialization.JsonPropertyName("arrivalTimestamp")] long ArrivalTimestamp,
    [property: System.Text.Json.Serialization.JsonPropertyName("errorCode")] string ErrorCode,
    [property: System.Text.Json.Serialization.JsonPropertyName("errorMessage")] string ErrorMessage,
    [property: System.Text.Json.Serialization.JsonPropertyName("attemptEndingTimestamp")] long AttemptEndingTimestamp,
    [property: System.Text.Json.Serialization.JsonPropertyName("rawData")] string RawData,
    [property: System.Text.Json.Serialization.JsonPropertyName("subsequenceNumber")] int SubsequenceNumber,
    [property: System.Text.Json.Serialization.JsonPropertyName("dataId")] string DataId);

[System.Text.Json.Serialization.JsonSerializable(typeof(FailedRecord))]
internal sealed partial class FailedRecordJson : System.Text.Json.Serialization.JsonSerializerContext;
