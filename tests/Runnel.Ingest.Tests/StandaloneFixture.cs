using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Ingest.Tests;

/// <summary>
/// Standalone on a real Kestrel socket (free port, temporary data folder, SQLite metadata, the real log
/// engine). Iterators are signed against <see cref="Clock"/>, so a test can age them. The shard store
/// locator is wrapped to record settings updates sent to the owners.
/// </summary>
public sealed class StandaloneFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = new("runnel-ingest");
    private StartedStandalone? _host;

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    public byte[] SigningKey { get; } = RandomNumberGenerator.GetBytes(32);
    public RecordingLocator Locator { get; private set; } = null!;
    public Uri BaseAddress { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public IServiceProvider Services => _host!.Services;

    public async ValueTask InitializeAsync()
    {
        _host = await StartedStandalone.StartAsync(
        [
            "--urls=http://127.0.0.1:0",
            $"--Runnel:DataDirectory={_data.Path}",
            $"--Runnel:IteratorSigningKey={Convert.ToBase64String(SigningKey)}",
            "--Logging:LogLevel:Default=Warning",
            // The test classes run in parallel and each creates and describes its own streams, far
            // above the account-wide control-plane rates; per-shard limits stay at their defaults.
            "--Throttling:ControlPlane:CreateStream:PerSecond=0",
            "--Throttling:ControlPlane:DeleteStream:PerSecond=0",
            "--Throttling:ControlPlane:DescribeStream:PerSecond=0",
            "--Throttling:ControlPlane:DescribeStreamSummary:PerSecond=0",
            // Iterator tests open many iterators and read one shard many times within a second;
            // ThrottlingTests reads its own stream at the default rate.
            "--Throttling:Shard:GetShardIteratorPerSecond=1000",
            "--Throttling:Shard:GetRecordsPerSecond=1000",
            $"--Throttling:Streams:{ReadLimitedStream}:GetRecordsPerSecond=5",
        ], builder =>
        {
            builder.Services.AddSingleton(new ShardIteratorCodec(SigningKey, Clock));
            var inner = builder.Services.Last(d => d.ServiceType == typeof(IShardStoreLocator));
            builder.Services.Replace(ServiceDescriptor.Singleton<IShardStoreLocator>(sp =>
                new RecordingLocator((IShardStoreLocator)(inner.ImplementationInstance
                    ?? inner.ImplementationFactory?.Invoke(sp)
                    ?? ActivatorUtilities.CreateInstance(sp, inner.ImplementationType!)))));
        });
        Locator = (RecordingLocator)_host.Services.GetRequiredService<IShardStoreLocator>();
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

    /// <summary>The one stream of this host whose GetRecords calls are limited to the default 5/s.</summary>
    public const string ReadLimitedStream = "thr-reads";

    public static string NewStreamName(string prefix = "s") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];

    /// <summary>Calls one Kinesis operation with a JSON body and returns status, parsed body and headers.</summary>
    public async Task<KinesisAnswer> CallAsync(string operation, string json, Version? version = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Content = new StringContent(json, Encoding.UTF8),
            Version = version ?? HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new KinesisAnswer((int)response.StatusCode, body, types?.FirstOrDefault(), response.Version,
            response.Content.Headers.ContentType?.MediaType);
    }

    public Task<KinesisAnswer> CallAsync(string operation, object request, Version? version = null) =>
        CallAsync(operation, JsonSerializer.Serialize(request), version);

    /// <summary>
    /// Calls one operation in CBOR 1.1 with the same request a JSON call would send: members named Data are sent as byte
    /// strings (the request gives them in base64), everything else as its JSON kind. The answer's CBOR map is turned into JSON.
    /// </summary>
    public async Task<KinesisAnswer> CallCborAsync(string operation, object request)
    {
        var writer = new System.Formats.Cbor.CborWriter();
        WriteCbor(writer, JsonSerializer.SerializeToElement(request), null);
        using var message = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(writer.Encode()) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-cbor-1.1");
        message.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await Http.SendAsync(message, TestContext.Current.CancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        var body = bytes.Length == 0 ? default : JsonSerializer.SerializeToElement(CborDocument.Read(bytes));
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new KinesisAnswer((int)response.StatusCode, body, types?.FirstOrDefault(), response.Version,
            response.Content.Headers.ContentType?.MediaType);
    }

    private static void WriteCbor(System.Formats.Cbor.CborWriter w, JsonElement e, string? member)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartMap(null);
                foreach (var p in e.EnumerateObject())
                {
                    w.WriteTextString(p.Name);
                    WriteCbor(w, p.Value, p.Name);
                }
                w.WriteEndMap();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray(null);
                foreach (var item in e.EnumerateArray())
                    WriteCbor(w, item, null);
                w.WriteEndArray();
                break;
            case JsonValueKind.String when member == "Data":
                w.WriteByteString(Convert.FromBase64String(e.GetString()!));
                break;
            case JsonValueKind.String:
                w.WriteTextString(e.GetString()!);
                break;
            case JsonValueKind.Number when e.TryGetInt64(out var n):
                w.WriteInt64(n);
                break;
            case JsonValueKind.Number:
                w.WriteDouble(e.GetDouble());
                break;
            case JsonValueKind.True or JsonValueKind.False:
                w.WriteBoolean(e.GetBoolean());
                break;
            default:
                w.WriteNull();
                break;
        }
    }

    /// <summary>Calls an operation that must succeed.</summary>
    public async Task<JsonElement> OkAsync(string operation, object request)
    {
        var answer = await CallAsync(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Body}");
        return answer.Body;
    }

    public async Task CreateStreamAsync(string name, int shards = 1) =>
        await OkAsync("CreateStream", new { StreamName = name, ShardCount = shards });

    public async Task<string> IteratorAsync(string stream, string shardId, string type = "TRIM_HORIZON", string? sequence = null, double? timestamp = null)
    {
        var request = new Dictionary<string, object> { ["StreamName"] = stream, ["ShardId"] = shardId, ["ShardIteratorType"] = type };
        if (sequence is not null)
            request["StartingSequenceNumber"] = sequence;
        if (timestamp is not null)
            request["Timestamp"] = timestamp;
        return (await OkAsync("GetShardIterator", request)).GetProperty("ShardIterator").GetString()!;
    }

    public async Task<List<(string Seq, string Key, byte[] Data)>> ReadAllAsync(string stream, string shardId)
    {
        var iterator = await IteratorAsync(stream, shardId);
        var body = await OkAsync("GetRecords", new { ShardIterator = iterator });
        return [.. body.GetProperty("Records").EnumerateArray().Select(r => (
            r.GetProperty("SequenceNumber").GetString()!, r.GetProperty("PartitionKey").GetString()!,
            Convert.FromBase64String(r.GetProperty("Data").GetString()!)))];
    }
}

public sealed record KinesisAnswer(int Status, JsonElement Body, string? ErrorTypeHeader, Version Version, string? ContentType)
{
    public string? Type => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("__type", out var t) ? t.GetString() : null;
    /// <summary>The error's text, under the key AWS uses for its type: "Message" for SerializationException, else "message".</summary>
    public string? Message => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty(Type == "SerializationException" ? "Message" : "message", out var m) ? m.GetString() : null;
}

/// <summary>Passes every call through and records the retention each shard owner was told.</summary>
public sealed class RecordingLocator(IShardStoreLocator inner) : IShardStoreLocator
{
    public System.Collections.Concurrent.ConcurrentDictionary<ShardRef, ShardSettings> Settings { get; } = new();

    public IShardStore ForNode(string nodeId) => new Recording(inner.ForNode(nodeId), this);

    private sealed class Recording(IShardStore store, RecordingLocator owner) : IShardStore, IShardTail
    {
        public IAsyncEnumerable<TailPosition> WatchAsync(ShardRef shard, ulong fromOrdinal, CancellationToken ct) =>
            ((IShardTail)store).WatchAsync(shard, fromOrdinal, ct);

        public Task OpenShardAsync(ShardRef shard, long epoch, ShardSettings settings, CancellationToken ct)
        {
            owner.Settings[shard] = settings;
            return store.OpenShardAsync(shard, epoch, settings, ct);
        }

        public Task UpdateSettingsAsync(ShardRef shard, ShardSettings settings, CancellationToken ct)
        {
            owner.Settings[shard] = settings;
            return store.UpdateSettingsAsync(shard, settings, ct);
        }

        public Task<AppendResult> AppendAsync(ShardRef shard, long epoch, IReadOnlyList<AppendRecord> records, CancellationToken ct) => store.AppendAsync(shard, epoch, records, ct);
        public Task<ReadResult> ReadAsync(ShardRef shard, ReadRequest request, CancellationToken ct) => store.ReadAsync(shard, request, ct);
        public Task<ShardState> GetStateAsync(ShardRef shard, CancellationToken ct) => store.GetStateAsync(shard, ct);
        public Task<ulong> FindOrdinalAsync(ShardRef shard, long timestampUnixMs, CancellationToken ct) => store.FindOrdinalAsync(shard, timestampUnixMs, ct);
        public Task<ShardState> SealShardAsync(ShardRef shard, long epoch, CancellationToken ct) => store.SealShardAsync(shard, epoch, ct);
        public Task DeleteShardAsync(ShardRef shard, CancellationToken ct) => store.DeleteShardAsync(shard, ct);
    }
}

[CollectionDefinition(Name)]
public sealed class StandaloneCollection : ICollectionFixture<StandaloneFixture>
{
    public const string Name = "standalone";
}
