using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Hardening.Tests;

/// <summary>
/// Standalone in the test process on a real socket (free port, temporary data folder, SQLite metadata). Its
/// control-plane rates are off so that bad input reaches the operations instead of stopping at the limiter.
/// </summary>
public sealed class HardeningFixture : IAsyncLifetime
{
    private readonly TempDirectory? _data;
    private readonly string _dataPath;
    private readonly string[] _extraArguments;
    private StartedStandalone? _host;

    public HardeningFixture()
    {
        _data = new TempDirectory("runnel-hardening");
        _dataPath = _data.Path;
        _extraArguments = [];
    }

    /// <summary>A Standalone of a test's own, on a data folder the test provides, with settings added.</summary>
    internal HardeningFixture(string dataDirectory, params string[] arguments)
    {
        _dataPath = dataDirectory;
        _extraArguments = arguments;
    }

    public Uri Address { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public IServiceProvider Services => _host!.Services;
    public string DataDirectory => _dataPath;

    /// <summary>Where event source mappings of these tests may deliver: nothing listens on port 1.</summary>
    public const string UnreachableFunction = "http://127.0.0.1:1/fn";

    public async ValueTask InitializeAsync()
    {
        string[] controlPlane =
        [
            "CreateStream", "DeleteStream", "DescribeStream", "DescribeStreamSummary", "ListStreams", "ListShards",
            "AddTagsToStream", "RemoveTagsFromStream", "ListTagsForStream", "IncreaseStreamRetentionPeriod",
            "DecreaseStreamRetentionPeriod", "UpdateShardCount", "UpdateStreamMode", "SplitShard", "MergeShards",
            "UpdateMaxRecordSize", "TagResource", "UntagResource", "ListTagsForResource", "DescribeLimits",
        ];
        _host = await StartedStandalone.StartAsync(
        [
            "--urls=http://127.0.0.1:0",
            $"--Runnel:DataDirectory={_dataPath}",
            "--Logging:LogLevel:Default=Warning",
            // Short enough for a test to see a silent socket closed, long enough for any client on a busy machine.
            "--Connections:RequestHeadersTimeout=00:00:05",
            "--Throttling:Shard:GetShardIteratorPerSecond=100000",
            "--Throttling:Shard:GetRecordsPerSecond=100000",
            "--FanOut:Mappings:AllowedHosts:0=127.0.0.1",
            .. controlPlane.Select(op => $"--Throttling:ControlPlane:{op}:PerSecond=0"),
            .. _extraArguments,
        ]);
        Address = _host.Address;
        Http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_host is not null)
            await _host.DisposeAsync();
        _data?.Dispose();
    }

    public static string NewStreamName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];

    /// <summary>Calls one Kinesis operation with a body of raw bytes.</summary>
    public async Task<Answer> CallAsync(string operation, byte[] body, string contentType = "application/x-amz-json-1.1")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "Kinesis_20131202." + operation);
        return await SendAsync(request);
    }

    public Task<Answer> CallAsync(string operation, string json) => CallAsync(operation, Encoding.UTF8.GetBytes(json));

    public Task<Answer> CallAsync(string operation, object request) => CallAsync(operation, JsonSerializer.Serialize(request));

    public async Task<Answer> SendAsync(HttpRequestMessage request)
    {
        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new Answer((int)response.StatusCode, bytes, types?.FirstOrDefault(), response.Content.Headers.ContentType?.MediaType);
    }

    public async Task<JsonElement> OkAsync(string operation, object request)
    {
        var answer = await CallAsync(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Text}");
        return answer.Json;
    }

    public async Task CreateStreamAsync(string name, int shards = 1)
    {
        await OkAsync("CreateStream", new { StreamName = name, ShardCount = shards });
        await Wait.UntilAsync(async () => (await OkAsync("DescribeStreamSummary", new { StreamName = name }))
            .GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString() == "ACTIVE",
            TimeSpan.FromSeconds(30), $"stream {name} to become ACTIVE");
    }

    /// <summary>Sends raw bytes on a new connection, half-closes it and returns what the server wrote before closing.</summary>
    public async Task<string> RawAsync(byte[] request, bool halfClose = true, TimeSpan? timeout = null)
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = new TcpClient();
        await client.ConnectAsync(Address.Host, Address.Port, ct);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(request, ct);
            if (halfClose)
                client.Client.Shutdown(SocketShutdown.Send);
        }
        catch (IOException)
        {
            // The server may close on bad framing before everything was sent.
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout ?? TimeSpan.FromSeconds(30));
        var answer = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, deadline.Token)) > 0)
                answer.Write(buffer, 0, read);
        }
        catch (IOException)
        {
            // Reset by the server after its answer.
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"The server neither answered nor closed within the deadline: {Encoding.ASCII.GetString(request[..Math.Min(200, request.Length)])}");
        }
        return Encoding.UTF8.GetString(answer.ToArray());
    }

    /// <summary>The status codes of every HTTP/1.1 answer in a raw exchange (several on a kept-alive connection).</summary>
    public static IReadOnlyList<int> Statuses(string raw) =>
        [.. System.Text.RegularExpressions.Regex.Matches(raw, @"HTTP/1\.1 (\d{3}) ").Select(m => int.Parse(m.Groups[1].Value))];
}

public sealed record Answer(int Status, byte[] Body, string? ErrorTypeHeader, string? ContentType)
{
    public string Text => Encoding.UTF8.GetString(Body);

    public JsonElement Json => Body.Length == 0 ? default : JsonDocument.Parse(Body).RootElement.Clone();

    public string? Type => ContentType == "application/x-amz-cbor-1.1"
        ? CborDocument.Read(Body).GetValueOrDefault("__type") as string
        : Body.Length > 0 && Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty("__type", out var t) ? t.GetString() : ErrorTypeHeader;
}

[CollectionDefinition(Name)]
public sealed class HardeningCollection : ICollectionFixture<HardeningFixture>
{
    public const string Name = "hardening";
}
