using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>An answer of the public endpoint: status, parsed body (default when empty) and the error type header.</summary>
public sealed record Reply(int Status, JsonElement Body, string? ErrorType)
{
    public string? Message => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("message", out var m) ? m.GetString() : null;
}

/// <summary>
/// Standalone on a real Kestrel socket (free port, temporary data folder, SQLite metadata, the real log engine), with
/// mapping delivery tuned for tests: scans every 200 ms and retries after 20-200 ms instead of 1-60 s.
/// </summary>
public sealed class StandaloneHostFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = new("runnel-esm");
    private StartedStandalone? _host;

    public Uri BaseAddress { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _host = await StartedStandalone.StartAsync(
        [
            "--urls=http://127.0.0.1:0",
            $"--Runnel:DataDirectory={_data.Path}",
            $"--Runnel:IteratorSigningKey={Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}",
            "--Logging:LogLevel:Default=Warning",
            "--Throttling:Enabled=false",
            "--FanOut:Mappings:ScanIntervalMilliseconds=200",
            // The receivers of these tests listen on loopback, which mappings may call only when it is listed.
            "--FanOut:Mappings:AllowedHosts:0=127.0.0.1",
            "--FanOut:Mappings:RetryBaseMilliseconds=20",
            "--FanOut:Mappings:RetryMaxMilliseconds=200",
            "--FanOut:Mappings:LeaseSeconds=3",
        ]);
        BaseAddress = _host.Address;
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_host is not null)
            await _host.DisposeAsync();
        _data.Dispose();
    }

    public Task<JsonElement> KinesisAsync(string operation, object request) => KinesisClient.OkAsync(Http, operation, request);

    public Task<Reply> LambdaAsync(HttpMethod method, string path, object? body = null) => KinesisClient.LambdaAsync(Http, method, path, body);
}

[CollectionDefinition(Name)]
public sealed class StandaloneHostCollection : ICollectionFixture<StandaloneHostFixture>
{
    public const string Name = "esm-standalone";
}

/// <summary>Plain HTTP calls to the public endpoint: the Kinesis JSON protocol and Lambda's mapping API.</summary>
public static class KinesisClient
{
    public const string Account = "000000000000";

    public static string StreamArn(string name) => $"arn:aws:kinesis:us-east-1:{Account}:stream/{name}";

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];

    public static async Task<JsonElement> OkAsync(HttpClient http, string operation, object request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await http.SendAsync(message, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{operation} answered {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<Reply> LambdaAsync(HttpClient http, HttpMethod method, string path, object? body = null)
    {
        using var message = new HttpRequestMessage(method, path);
        if (body is not null)
            message.Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(message, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new Reply((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), types?.FirstOrDefault());
    }

    public static async Task CreateStreamAsync(HttpClient http, string name, int shards = 1)
    {
        await OkAsync(http, "CreateStream", new { StreamName = name, ShardCount = shards });
        await Wait.UntilAsync(async () =>
        {
            var d = await OkAsync(http, "DescribeStreamSummary", new { StreamName = name });
            return d.GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString() == "ACTIVE";
        }, TimeSpan.FromSeconds(30), $"stream {name} to become ACTIVE");
    }

    /// <summary>Puts records one call at a time (so per-key order is the call order) and returns their sequence numbers.</summary>
    public static async Task<List<string>> PutAsync(HttpClient http, string stream, IEnumerable<(string Key, string Data)> records)
    {
        var sequences = new List<string>();
        foreach (var chunk in records.Chunk(500))
        {
            var body = await OkAsync(http, "PutRecords", new
            {
                StreamName = stream,
                Records = chunk.Select(r => new { PartitionKey = r.Key, Data = Convert.ToBase64String(Encoding.UTF8.GetBytes(r.Data)) }).ToArray(),
            });
            Assert.Equal(0, body.GetProperty("FailedRecordCount").GetInt32());
            sequences.AddRange(body.GetProperty("Records").EnumerateArray().Select(r => r.GetProperty("SequenceNumber").GetString()!));
        }
        return sequences;
    }

    /// <summary>Every record of a one-shard stream, through GetRecords.</summary>
    public static async Task<List<JsonElement>> ReadAllAsync(HttpClient http, string stream, string shardId = "shardId-000000000000")
    {
        var iterator = (await OkAsync(http, "GetShardIterator", new { StreamName = stream, ShardId = shardId, ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        var all = new List<JsonElement>();
        while (iterator is not null)
        {
            var body = await OkAsync(http, "GetRecords", new { ShardIterator = iterator });
            var records = body.GetProperty("Records").EnumerateArray().ToList();
            all.AddRange(records);
            if (records.Count == 0)
                break;
            iterator = body.TryGetProperty("NextShardIterator", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        return all;
    }
}
