using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Minio;
using Minio.DataModel.Args;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Firehose.Tests;

/// <summary>An answer of the public endpoint: status, parsed body and the error type.</summary>
public sealed record Reply(int Status, JsonElement Body)
{
    public string? ErrorType => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("__type", out var t) ? t.GetString() : null;
}

/// <summary>The buckets delivery writes to, read back the way a user would: the S3 server, or the local folder.</summary>
public interface ITestBuckets
{
    Task CreateAsync(string bucket);
    Task<IReadOnlyList<string>> KeysAsync(string bucket);
    Task<byte[]> ReadAsync(string bucket, string key);
}

public sealed class FolderBuckets(string root) : ITestBuckets
{
    public Task CreateAsync(string bucket) => Task.CompletedTask;

    public Task<IReadOnlyList<string>> KeysAsync(string bucket)
    {
        var folder = Path.Combine(root, bucket);
        IReadOnlyList<string> keys = Directory.Exists(folder)
            ? [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Where(f => !Path.GetFileName(f).StartsWith(".tmp-", StringComparison.Ordinal))
                .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/')).Order(StringComparer.Ordinal)]
            : [];
        return Task.FromResult(keys);
    }

    public Task<byte[]> ReadAsync(string bucket, string key) => File.ReadAllBytesAsync(Path.Combine(root, bucket, key));
}

public sealed class S3Buckets : ITestBuckets, IDisposable
{
    private readonly IMinioClient _client;

    public S3Buckets()
    {
        var s3 = TestServers.S3();
        _client = new MinioClient().WithEndpoint(s3.Endpoint.Host, s3.Endpoint.Port).WithCredentials(s3.AccessKey, s3.SecretKey).WithSSL(false).Build();
    }

    public Task CreateAsync(string bucket) => _client.MakeBucketAsync(new MakeBucketArgs().WithBucket(bucket));

    public async Task<IReadOnlyList<string>> KeysAsync(string bucket)
    {
        var keys = new List<string>();
        await foreach (var item in _client.ListObjectsEnumAsync(new ListObjectsArgs().WithBucket(bucket).WithRecursive(true)))
            keys.Add(item.Key);
        return [.. keys.Order(StringComparer.Ordinal)];
    }

    public async Task<byte[]> ReadAsync(string bucket, string key)
    {
        using var buffer = new MemoryStream();
        await _client.GetObjectAsync(new GetObjectArgs().WithBucket(bucket).WithObject(key).WithCallbackStream(s => s.CopyTo(buffer)));
        return buffer.ToArray();
    }

    public void Dispose() => (_client as IDisposable)?.Dispose();
}

/// <summary>
/// Standalone on a real socket over a data folder, with delivery tuned for tests (scans every 200 ms, polls shards every
/// 50 ms, 3 s leases). With <c>s3</c> it writes to the S3 server of RUNNEL_TEST_S3, otherwise to its local folder.
/// </summary>
public sealed class FirehoseHost : IAsyncDisposable
{
    private readonly StartedStandalone _host;

    private FirehoseHost(StartedStandalone host, string data, ITestBuckets buckets)
    {
        _host = host;
        DataPath = data;
        Buckets = buckets;
        Http = new HttpClient { BaseAddress = host.Address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public string DataPath { get; }
    public ITestBuckets Buckets { get; }
    public HttpClient Http { get; }
    public Uri Address => _host.Address;
    public IServiceProvider Services => _host.Services;

    public static async Task<FirehoseHost> StartAsync(string data, bool s3, params string[] extra)
    {
        var args = new List<string>
        {
            "--urls=http://127.0.0.1:0",
            $"--Runnel:DataDirectory={data}",
            "--Logging:LogLevel:Default=Warning",
            "--Throttling:Enabled=false",
            "--Firehose:ScanIntervalMilliseconds=200",
            "--Firehose:PollMilliseconds=50",
            "--Firehose:LeaseSeconds=3",
        };
        ITestBuckets buckets;
        if (s3)
        {
            var server = TestServers.S3();
            args.Add($"--S3:Endpoint={server.Endpoint}");
            args.Add($"--S3:AccessKey={server.AccessKey}");
            args.Add($"--S3:SecretKey={server.SecretKey}");
            buckets = new S3Buckets();
        }
        else
        {
            buckets = new FolderBuckets(Path.Combine(data, "buckets"));
        }
        var host = await StartedStandalone.StartAsync([.. args, .. extra], cancellationToken: TestContext.Current.CancellationToken);
        return new FirehoseHost(host, data, buckets);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        (Buckets as IDisposable)?.Dispose();
        await _host.DisposeAsync();
    }

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public static string NewBucket() => $"fh-{Guid.NewGuid():N}"[..20];

    /// <summary>One call of the AWS JSON 1.1 protocol; <paramref name="target"/> is e.g. <c>Firehose_20150804.PutRecord</c>.</summary>
    public async Task<Reply> CallAsync(string target, object request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", target);
        using var response = await Http.SendAsync(message, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return new Reply((int)response.StatusCode, body);
    }

    public async Task<JsonElement> FirehoseAsync(string operation, object request)
    {
        var reply = await CallAsync("Firehose_20150804." + operation, request);
        Assert.True(reply.Status == 200, $"{operation} answered {reply.Status}: {reply.Body}");
        return reply.Body;
    }

    /// <summary>Creates a Direct PUT delivery stream writing to <paramref name="bucket"/> (which it creates first).</summary>
    public async Task CreateS3DeliveryStreamAsync(string hose, string bucket, int sizeInMBs, int intervalInSeconds, string compression = "UNCOMPRESSED")
    {
        await Buckets.CreateAsync(bucket);
        await FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = new
            {
                RoleARN = "arn:aws:iam::000000000000:role/firehose",
                BucketARN = $"arn:aws:s3:::{bucket}",
                CompressionFormat = compression,
                BufferingHints = new { SizeInMBs = sizeInMBs, IntervalInSeconds = intervalInSeconds },
            },
        });
    }

    public async Task<JsonElement> KinesisAsync(string operation, object request)
    {
        var reply = await CallAsync("Kinesis_20131202." + operation, request);
        Assert.True(reply.Status == 200, $"{operation} answered {reply.Status}: {reply.Body}");
        return reply.Body;
    }

    private static readonly Dictionary<string, string?> CliEnvironment = new()
    {
        ["AWS_ACCESS_KEY_ID"] = "AKIDRUNNELTEST",
        ["AWS_SECRET_ACCESS_KEY"] = "runnel-test-secret",
        ["AWS_DEFAULT_REGION"] = "us-east-1",
        ["AWS_REGION"] = "us-east-1",
        ["AWS_PAGER"] = "",
        ["AWS_CONFIG_FILE"] = "/dev/null",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
        ["AWS_CLI_AUTO_PROMPT"] = "off",
        ["AWS_MAX_ATTEMPTS"] = "1",
        ["AWS_PROFILE"] = null,
        ["AWS_SESSION_TOKEN"] = null,
    };

    public Task<CommandResult> RunCliAsync(params string[] arguments) =>
        ExternalCommand.RunAsync(TestServers.AwsCli(), [.. arguments, "--endpoint-url", Address.ToString().TrimEnd('/'), "--output", "json"],
            TimeSpan.FromSeconds(60), CliEnvironment, cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Runs an AWS CLI command that must succeed; its JSON answer (null when it prints nothing).</summary>
    public async Task<JsonObject?> CliAsync(params string[] arguments)
    {
        var result = await RunCliAsync(arguments);
        Assert.True(result.Succeeded, result.Describe("aws " + string.Join(' ', arguments)));
        var text = result.StandardOutput.Trim();
        return text.Length == 0 ? null : JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Waits until the bucket holds at least <paramref name="count"/> objects and returns their keys.</summary>
    public async Task<IReadOnlyList<string>> WaitForObjectsAsync(string bucket, int count, TimeSpan? timeout = null)
    {
        IReadOnlyList<string> keys = [];
        await Wait.UntilAsync(async () => (keys = await Buckets.KeysAsync(bucket)).Count >= count, timeout ?? TimeSpan.FromSeconds(60),
            $"{count} objects in bucket {bucket}", TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        return keys;
    }

    public static byte[] Random(int length) => RandomNumberGenerator.GetBytes(length);
}
