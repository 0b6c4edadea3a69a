using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Minio;
using Minio.DataModel.Args;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Analytics.Tests;

/// <summary>An answer of the Analytics API: status, parsed body and the error type.</summary>
public sealed record Reply(int Status, JsonElement Body, string? ErrorType)
{
    public string? Message => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("message", out var m) ? m.GetString() : null;
}

/// <summary>
/// Standalone on a real socket over a data folder the caller keeps (so a test can restart it on the same data), with
/// a PostgreSQL database registered as the table output's database "dashboards" and a runner tuned for tests (scans
/// every 200 ms, 3 s leases; event-time windows never give up on a quiet shard), reading reference data from the S3
/// server of RUNNEL_TEST_S3.
/// </summary>
public sealed class AnalyticsHost : IAsyncDisposable
{
    public const string Account = "000000000000";
    public const string Database = "dashboards";

    private readonly StartedStandalone? _host;
    private PostgresDatabase? _database;
    private TempDirectory? _data;

    private AnalyticsHost(StartedStandalone host)
        : this(host.Address) => _host = host;

    /// <summary>A client of a Standalone the caller runs (a process started with <see cref="Arguments"/>).</summary>
    public AnalyticsHost(Uri address)
    {
        Address = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Http { get; }

    public Uri Address { get; }

    /// <summary>The public endpoint, which serves <c>kinesisanalytics</c> as well as <c>kinesis</c>.</summary>
    public string Endpoint => Address.ToString().TrimEnd('/');

    public IServiceProvider Services => _host?.Services ?? throw new InvalidOperationException("Standalone runs in another process.");

    public static async Task<AnalyticsHost> StartAsync(string dataDirectory, string signingKey, string tableDatabase, params string[] extra) =>
        new(await StartedStandalone.StartAsync([.. Arguments("http://127.0.0.1:0", dataDirectory, signingKey, tableDatabase), .. extra],
            cancellationToken: TestContext.Current.CancellationToken));

    /// <summary>
    /// Standalone over a fresh data folder and a fresh PostgreSQL database (named after <paramref name="database"/>),
    /// both removed when the host is disposed.
    /// </summary>
    public static async Task<AnalyticsHost> StartFreshAsync(string database, params string[] extra)
    {
        var db = await PostgresDatabase.CreateAsync(database, TestContext.Current.CancellationToken);
        var data = new TempDirectory("runnel-analytics");
        var host = await StartAsync(data.Path, NewSigningKey(), db.ConnectionString, extra);
        host._database = db;
        host._data = data;
        return host;
    }

    /// <summary>The table output's database of a host from <see cref="StartFreshAsync"/>.</summary>
    public string TableDatabase => _database?.ConnectionString ?? throw new InvalidOperationException("The caller owns the database.");

    public static string[] Arguments(string urls, string dataDirectory, string signingKey, string tableDatabase) =>
        [
            $"--urls={urls}",
            $"--Runnel:DataDirectory={dataDirectory}",
            $"--Runnel:IteratorSigningKey={signingKey}",
            "--Logging:LogLevel:Default=Warning",
            "--Throttling:Enabled=false",
            "--Analytics:ScanIntervalMilliseconds=200",
            "--Analytics:CheckpointIntervalMilliseconds=200",
            "--Analytics:IdleShardMilliseconds=3600000",
            "--Analytics:LeaseSeconds=3",
            $"--Analytics:Databases:{Database}={tableDatabase}",
            $"--S3:Endpoint={TestServers.S3().Endpoint}",
            $"--S3:AccessKey={TestServers.S3().AccessKey}",
            $"--S3:SecretKey={TestServers.S3().SecretKey}",
        ];

    /// <summary>Creates a fresh bucket in the S3 server of RUNNEL_TEST_S3 holding one object; returns the bucket's name.</summary>
    public static async Task<string> PutObjectAsync(string key, string content)
    {
        var bucket = await CreateBucketAsync();
        using var client = S3Client();
        var bytes = Encoding.UTF8.GetBytes(content);
        using var stream = new MemoryStream(bytes);
        await client.PutObjectAsync(new PutObjectArgs().WithBucket(bucket).WithObject(key)
            .WithStreamData(stream).WithObjectSize(bytes.Length).WithContentType("text/plain"), TestContext.Current.CancellationToken);
        return bucket;
    }

    /// <summary>Creates a fresh, empty bucket in the S3 server of RUNNEL_TEST_S3; returns its name.</summary>
    public static async Task<string> CreateBucketAsync()
    {
        var bucket = $"ref-{Guid.NewGuid():N}"[..20];
        using var client = S3Client();
        await client.MakeBucketAsync(new MakeBucketArgs().WithBucket(bucket), TestContext.Current.CancellationToken);
        return bucket;
    }

    /// <summary>The contents of every object in <paramref name="bucket"/>, in key order.</summary>
    public static async Task<List<string>> ReadObjectsAsync(string bucket)
    {
        using var client = S3Client();
        var keys = new List<string>();
        await foreach (var item in client.ListObjectsEnumAsync(new ListObjectsArgs().WithBucket(bucket).WithRecursive(true), TestContext.Current.CancellationToken))
            keys.Add(item.Key);
        var contents = new List<string>();
        foreach (var key in keys.Order(StringComparer.Ordinal))
        {
            using var buffer = new MemoryStream();
            await client.GetObjectAsync(new GetObjectArgs().WithBucket(bucket).WithObject(key).WithCallbackStream(s => s.CopyTo(buffer)), TestContext.Current.CancellationToken);
            contents.Add(Encoding.UTF8.GetString(buffer.ToArray()));
        }
        return contents;
    }

    private static IMinioClient S3Client()
    {
        var s3 = TestServers.S3();
        return new MinioClient().WithEndpoint(s3.Endpoint.Host, s3.Endpoint.Port).WithCredentials(s3.AccessKey, s3.SecretKey).WithSSL(false).Build();
    }

    public static string NewSigningKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_host is not null)
            await _host.DisposeAsync();
        if (_database is not null)
            await _database.DisposeAsync();
        _data?.Dispose();
    }

    public static string StreamArn(string name) => $"arn:aws:kinesis:us-east-1:{Account}:stream/{name}";

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public Task<Reply> AnalyticsAsync(string operation, object request) => SendAsync("/", "KinesisAnalytics_20150814." + operation, request);

    public async Task<JsonElement> AnalyticsOkAsync(string operation, object request)
    {
        var reply = await AnalyticsAsync(operation, request);
        Assert.True(reply.Status == 200, $"{operation} answered {reply.Status} {reply.ErrorType}: {reply.Message}");
        return reply.Body;
    }

    public async Task<JsonElement> FirehoseAsync(string operation, object request)
    {
        var reply = await SendAsync("/", "Firehose_20150804." + operation, request);
        Assert.True(reply.Status == 200, $"{operation} answered {reply.Status} {reply.ErrorType}: {reply.Message}");
        return reply.Body;
    }

    public async Task<JsonElement> KinesisAsync(string operation, object request)
    {
        var reply = await SendAsync("/", "Kinesis_20131202." + operation, request);
        Assert.True(reply.Status == 200, $"{operation} answered {reply.Status} {reply.ErrorType}: {reply.Message}");
        return reply.Body;
    }

    private async Task<Reply> SendAsync(string path, string target, object request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", target);
        using var response = await Http.SendAsync(message, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new Reply((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), types?.FirstOrDefault());
    }

    public async Task CreateStreamAsync(string name, int shards)
    {
        await KinesisAsync("CreateStream", new { StreamName = name, ShardCount = shards });
        await Wait.UntilAsync(async () =>
        {
            var d = await KinesisAsync("DescribeStreamSummary", new { StreamName = name });
            return d.GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString() == "ACTIVE";
        }, TimeSpan.FromSeconds(30), $"stream {name} to become ACTIVE", cancellationToken: TestContext.Current.CancellationToken);
    }

    /// <summary>Puts records in order, 500 per call (per-shard order is the list's order).</summary>
    public async Task PutAsync(string stream, IEnumerable<(string Key, string Data)> records)
    {
        foreach (var chunk in records.Chunk(500))
        {
            var body = await KinesisAsync("PutRecords", new
            {
                StreamName = stream,
                Records = chunk.Select(r => new { PartitionKey = r.Key, Data = Convert.ToBase64String(Encoding.UTF8.GetBytes(r.Data)) }).ToArray(),
            });
            Assert.Equal(0, body.GetProperty("FailedRecordCount").GetInt32());
        }
    }

    /// <summary>Every record's data of a one-shard stream, decoded as JSON.</summary>
    public async Task<List<JsonElement>> ReadAllAsync(string stream)
    {
        var iterator = (await KinesisAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        var all = new List<JsonElement>();
        while (iterator is not null)
        {
            var body = await KinesisAsync("GetRecords", new { ShardIterator = iterator });
            var records = body.GetProperty("Records").EnumerateArray().ToList();
            all.AddRange(records.Select(r => JsonDocument.Parse(Convert.FromBase64String(r.GetProperty("Data").GetString()!)).RootElement.Clone()));
            if (records.Count == 0)
                break;
            iterator = body.TryGetProperty("NextShardIterator", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        return all;
    }

    public async Task<string> StatusAsync(string application) =>
        (await AnalyticsOkAsync("DescribeApplication", new { ApplicationName = application }))
            .GetProperty("ApplicationDetail").GetProperty("ApplicationStatus").GetString()!;

    /// <summary>Runs <c>aws kinesisanalytics ...</c> against the endpoint.</summary>
    public Task<CommandResult> CliAsync(params string[] arguments) =>
        ExternalCommand.RunAsync(TestServers.AwsCli(), ["kinesisanalytics", .. arguments, "--endpoint-url", Endpoint, "--output", "json"],
            TimeSpan.FromSeconds(60), AwsCliEnvironment.Variables, cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Runs <c>aws kinesisanalytics ...</c>, expects success and returns its JSON answer (default when empty).</summary>
    public async Task<JsonElement> CliOkAsync(params string[] arguments)
    {
        var result = await CliAsync(arguments);
        Assert.True(result.Succeeded, result.Describe("aws kinesisanalytics " + arguments[0]));
        return result.StandardOutput.Trim().Length == 0 ? default : JsonDocument.Parse(result.StandardOutput).RootElement.Clone();
    }

    public Task WaitRunningAsync(string application) =>
        Wait.UntilAsync(async () => await StatusAsync(application) == "RUNNING", TimeSpan.FromSeconds(60), $"{application} to be RUNNING", cancellationToken: TestContext.Current.CancellationToken);
}
