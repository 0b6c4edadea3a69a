using System.Text.Json;
using Microsoft.Extensions.Options;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.Analytics.Runner;

/// <summary>
/// LambdaOutput: posts an output's records to the function with Kinesis Analytics' output delivery contract. The
/// function is named, as everywhere in Runnel, by its http(s) URL and must pass <c>Analytics:AllowedHosts</c> on every
/// connection. The request is <c>{invocationId, applicationArn, records: [{recordId, lambdaDeliveryRecordMetadata:
/// {retryHint}, data}]}</c>; the answer must acknowledge every record id with <c>Ok</c> or <c>DeliveryFailed</c>. A
/// record not acknowledged <c>Ok</c> (a failed call, a missing or unknown id, another result) is sent again with its
/// retryHint raised, until it is delivered, as AWS does: the application waits meanwhile, so records are never
/// dropped. Records are delivered before the checkpoint that covers them: at least once.
/// </summary>
public sealed class LambdaOutputs : IDisposable
{
    /// <summary>Raw record bytes per invocation: base64 makes them 4/3 larger, which stays under Lambda's 6 MB request.</summary>
    public const int MaxInvocationBytes = 4 * 1024 * 1024;

    /// <summary>A function has this long to answer, Lambda's longest timeout.</summary>
    private static readonly TimeSpan InvocationTimeout = TimeSpan.FromMinutes(15);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger<LambdaOutputs> _logger;

    public LambdaOutputs(IOptions<AnalyticsOptions> options, TimeProvider time, ILogger<LambdaOutputs> logger)
    {
        Policy = new DestinationPolicy(options.Value.AllowedHosts);
        _time = time;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { ConnectCallback = Policy.ConnectAsync, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = InvocationTimeout,
        };
    }

    public DestinationPolicy Policy { get; }

    public async Task DeliverAsync(string applicationArn, string function, IReadOnlyList<byte[]> records, CancellationToken ct)
    {
        var url = DestinationPolicy.HttpUrl(function) ?? throw new InvalidOperationException($"LambdaOutput {function} is not an http(s) URL.");
        foreach (var batch in Batches(records))
        {
            var pending = batch.ToDictionary(_ => Guid.NewGuid().ToString(), r => r);
            for (var retry = 0; pending.Count > 0; retry++)
            {
                if (retry > 0)
                {
                    var backoff = TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, 500 * Math.Pow(2, Math.Min(retry - 1, 10))));
                    await Task.Delay(backoff, _time, ct).ConfigureAwait(false);
                }
                var (delivered, problem) = await InvokeAsync(url, applicationArn, pending, retry, ct).ConfigureAwait(false);
                foreach (var id in delivered)
                    pending.Remove(id);
                if (pending.Count > 0)
                    _logger.LogWarning("Lambda output {Function}: {Count} records not delivered ({Problem}); retry {Retry}", url, pending.Count, problem, retry + 1);
            }
        }
    }

    /// <summary>The record ids the function acknowledged with Ok, and what went wrong with the others.</summary>
    private async Task<(IReadOnlyCollection<string> Delivered, string? Problem)> InvokeAsync(
        Uri url, string applicationArn, Dictionary<string, byte[]> records, int retryHint, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            invocationId = Guid.NewGuid().ToString(),
            applicationArn,
            records = records.Select(r => new { recordId = r.Key, lambdaDeliveryRecordMetadata = new { retryHint }, data = Convert.ToBase64String(r.Value) }),
        });
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        try
        {
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            var answer = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                return ([], $"the function answered {(int)response.StatusCode}");
            var ok = new List<string>();
            using var document = JsonDocument.Parse(answer);
            if (!document.RootElement.TryGetProperty("records", out var results) || results.ValueKind != JsonValueKind.Array)
                return ([], "the answer has no records array");
            foreach (var result in results.EnumerateArray())
            {
                if (result.ValueKind == JsonValueKind.Object
                    && result.TryGetProperty("recordId", out var id) && id.ValueKind == JsonValueKind.String && records.ContainsKey(id.GetString()!)
                    && result.TryGetProperty("result", out var status) && status.ValueKind == JsonValueKind.String && status.GetString() == "Ok")
                    ok.Add(id.GetString()!);
            }
            return (ok, ok.Count == records.Count ? null : "records acknowledged DeliveryFailed or not at all");
        }
        catch (JsonException)
        {
            return ([], "the answer is not JSON");
        }
        catch (HttpRequestException e)
        {
            return ([], e.Message);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ([], $"no answer within {InvocationTimeout.TotalMinutes} minutes");
        }
    }

    private static IEnumerable<List<byte[]>> Batches(IReadOnlyList<byte[]> records)
    {
        var batch = new List<byte[]>();
        var bytes = 0;
        foreach (var r in records)
        {
            if (batch.Count > 0 && bytes + r.Length > MaxInvocationBytes)
            {
                yield return batch;
                batch = [];
                bytes = 0;
            }
            batch.Add(r);
            bytes += r.Length;
        }
        if (batch.Count > 0)
            yield return batch;
    }

    public void Dispose() => _http.Dispose();
}
