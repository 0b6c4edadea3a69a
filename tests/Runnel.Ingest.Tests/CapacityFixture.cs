using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Ingest.Tests;

/// <summary>
/// Standalone with small capacity settings so that scaling shows within seconds: shards take
/// <see cref="RecordsPerSecond"/> records a second, the scaler looks every half second at a 3-second window,
/// cools down for 4 s and merges after 3 quiet seconds; on-demand streams start with
/// <see cref="OnDemandShards"/> shards; ListShards is limited to 5 calls a second per stream and
/// UpdateShardCount to <see cref="UpdateShardCountPerDay"/> calls a day.
/// </summary>
public sealed class CapacityFixture : IAsyncLifetime
{
    public const int RecordsPerSecond = 50;
    public const int OnDemandShards = 2;
    public const int UpdateShardCountPerDay = 2;
    public const int ListShardsPerSecond = 5;
    public const int DescribeStreamPerSecond = 4;

    /// <summary>The one stream of this host whose GetRecords calls are limited, to 2 a second.</summary>
    public const string ReadLimitedStream = "cap-reads";

    private readonly TempDirectory _data = new("runnel-capacity");
    private StartedStandalone? _host;

    public HttpClient Http { get; private set; } = null!;
    public IServiceProvider Services => _host!.Services;

    public async ValueTask InitializeAsync()
    {
        _host = await StartedStandalone.StartAsync(
        [
            "--urls=http://127.0.0.1:0",
            $"--Runnel:DataDirectory={_data.Path}",
            $"--Runnel:IteratorSigningKey={Convert.ToBase64String(new byte[32])}",
            "--Logging:LogLevel:Default=Warning",
            "--Throttling:ControlPlane:CreateStream:PerSecond=0",
            $"--Throttling:ControlPlane:DescribeStream:PerSecond={DescribeStreamPerSecond}",
            "--Throttling:ControlPlane:DescribeStreamSummary:PerSecond=0",
            $"--Throttling:ControlPlane:ListShards:PerSecond={ListShardsPerSecond}",
            $"--Throttling:Shard:WriteRecordsPerSecond={RecordsPerSecond}",
            "--Throttling:Shard:GetShardIteratorPerSecond=1000",
            "--Throttling:Shard:GetRecordsPerSecond=1000",
            $"--Throttling:Streams:{ReadLimitedStream}:GetRecordsPerSecond=2",
            $"--Ingest:OnDemandShardCount={OnDemandShards}",
            $"--Ingest:UpdateShardCountPerDay={UpdateShardCountPerDay}",
            "--Capacity:FlushInterval=00:00:00.250",
            "--Capacity:EvaluationInterval=00:00:00.500",
            "--Capacity:Window=00:00:03",
            "--Capacity:Cooldown=00:00:04",
            "--Capacity:QuietPeriod=00:00:03",
            "--Capacity:HotKeyWindow=00:00:05",
            "--Capacity:HotShardThreshold=0.05",
        ]);
        Http = new HttpClient { BaseAddress = _host.Address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_host is not null)
            await _host.DisposeAsync();
        _data.Dispose();
    }

    public async Task<KinesisAnswer> CallAsync(string operation, object request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await Http.SendAsync(message, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new KinesisAnswer((int)response.StatusCode, body, types?.FirstOrDefault(), response.Version, response.Content.Headers.ContentType?.MediaType);
    }

    public async Task<JsonElement> OkAsync(string operation, object request)
    {
        var answer = await CallAsync(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Body}");
        return answer.Body;
    }

    public async Task<JsonElement> SummaryAsync(string stream) =>
        (await OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary");

    public async Task WaitActiveAsync(string stream, TimeSpan timeout) =>
        await Wait.UntilAsync(async () => (await SummaryAsync(stream)).GetProperty("StreamStatus").GetString() == "ACTIVE", timeout, $"{stream} to be ACTIVE");
}

[CollectionDefinition(Name)]
public sealed class CapacityCollection : ICollectionFixture<CapacityFixture>
{
    public const string Name = "capacity";
}
