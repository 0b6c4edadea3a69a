using System.Text;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>
/// Delivery to an HTTP endpoint with Firehose's request and response contract, against a receiver the test stands up
/// on loopback (allowed by <c>Firehose:AllowedHosts</c>), and the S3 backup of what it did not take.
/// </summary>
public sealed class HttpEndpointTests
{
    /// <summary>An HTTP endpoint destination on loopback that answers the n-th request given its request id.</summary>
    private static LoopbackEndpoint Receiver(Func<int, string, (int Status, string Body)> answer) =>
        new("/ingest?token=t", (n, body) => answer(n, body.GetProperty("requestId").GetString()!));

    private static string Ok(string requestId) => JsonSerializer.Serialize(new { requestId, timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });

    private static object Destination(LoopbackEndpoint receiver, string bucket, int retrySeconds, string encoding = "NONE") => new
    {
        EndpointConfiguration = new { Url = receiver.Url, Name = "receiver", AccessKey = "secret-access-key" },
        BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 },
        RequestConfiguration = new
        {
            ContentEncoding = encoding,
            CommonAttributes = new[] { new { AttributeName = "team", AttributeValue = "payments" } },
        },
        RetryOptions = new { DurationInSeconds = retrySeconds },
        S3BackupMode = "FailedDataOnly",
        RoleARN = "arn:aws:iam::000000000000:role/firehose",
        S3Configuration = new { RoleARN = "arn:aws:iam::000000000000:role/firehose", BucketARN = $"arn:aws:s3:::{bucket}", Prefix = "backup/" },
    };

    private static async Task<FirehoseHost> StartAsync(TempDirectory data) =>
        await FirehoseHost.StartAsync(data.Path, s3: true, "--Firehose:AllowedHosts:0=127.0.0.1");

    [Fact]
    public async Task The_endpoint_sees_the_exact_headers_and_body_and_a_refused_batch_is_sent_again_with_its_request_id()
    {
        using var data = new TempDirectory("firehose-http");
        // A 500, then a 200 whose body does not echo the request id (a failure too), then the proper answer.
        using var receiver = Receiver((n, id) => n switch { 1 => (500, "{}"), 2 => (200, "{\"requestId\":\"other\"}"), _ => (200, Ok(id)) });
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("http");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = hose, HttpEndpointDestinationConfiguration = Destination(receiver, bucket, 300, "GZIP") });
        var records = Enumerable.Range(0, 5).Select(i => Encoding.UTF8.GetBytes($"{{\"n\":{i}}}")).ToList();
        var put = await host.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = records.Select(r => new { Data = r }).ToArray() });
        Assert.Equal(0, put.GetProperty("FailedPutCount").GetInt32());

        await Wait.UntilAsync(() => receiver.Requests.Count >= 3, TimeSpan.FromSeconds(60), "three attempts at the endpoint",
            cancellationToken: TestContext.Current.CancellationToken);
        var seen = receiver.Requests.ToArray();
        var first = seen[0];
        Assert.Equal("1.0", first.Headers["X-Amz-Firehose-Protocol-Version"]);
        Assert.Equal("secret-access-key", first.Headers["X-Amz-Firehose-Access-Key"]);
        Assert.Equal("gzip", first.Headers["Content-Encoding"]);
        Assert.StartsWith("application/json", first.Headers["Content-Type"]);
        var attributes = JsonDocument.Parse(first.Headers["X-Amz-Firehose-Common-Attributes"]).RootElement;
        Assert.Equal("payments", attributes.GetProperty("commonAttributes").GetProperty("team").GetString());
        var requestId = first.Headers["X-Amz-Firehose-Request-Id"];
        Assert.True(Guid.TryParse(requestId, out _), requestId);
        Assert.Equal(requestId, first.Body.GetProperty("requestId").GetString());
        Assert.True(first.Body.GetProperty("timestamp").GetInt64() > 1_600_000_000_000);
        Assert.Equal(records.Select(Convert.ToBase64String), first.Body.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("data").GetString()));
        Assert.All(seen, s => Assert.Equal(requestId, s.Headers["X-Amz-Firehose-Request-Id"]));
        Assert.All(seen, s => Assert.Equal(first.Body.GetProperty("records").GetRawText(), s.Body.GetProperty("records").GetRawText()));

        // Delivered: nothing went to the backup bucket, and the description shows the endpoint but not its key.
        Assert.Empty(await host.Buckets.KeysAsync(bucket));
        var description = await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose });
        var http = description.GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0].GetProperty("HttpEndpointDestinationDescription");
        Assert.Equal(receiver.Url, http.GetProperty("EndpointConfiguration").GetProperty("Url").GetString());
        Assert.False(http.GetProperty("EndpointConfiguration").TryGetProperty("AccessKey", out _));
        Assert.Equal(300, http.GetProperty("RetryOptions").GetProperty("DurationInSeconds").GetInt32());
        Assert.Equal($"arn:aws:s3:::{bucket}", http.GetProperty("S3DestinationDescription").GetProperty("BucketARN").GetString());
    }

    [Fact]
    public async Task Records_the_endpoint_refuses_past_the_retry_duration_land_in_the_backup_bucket_as_failed_records()
    {
        using var data = new TempDirectory("firehose-http");
        using var receiver = Receiver((_, _) => (503, "{}"));
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("fail");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = hose, HttpEndpointDestinationConfiguration = Destination(receiver, bucket, 3) });
        var records = Enumerable.Range(0, 3).Select(i => Encoding.UTF8.GetBytes($"failed-{i}")).ToList();
        await host.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = records.Select(r => new { Data = r }).ToArray() });

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        Assert.StartsWith("backup/http-endpoint-failed/", key);
        Assert.Matches(@"^backup/http-endpoint-failed/\d{4}/\d{2}/\d{2}/\d{2}/" + hose + "-1-", key);
        var lines = Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = JsonDocument.Parse(lines[i]).RootElement;
            Assert.Equal(records[i], Convert.FromBase64String(line.GetProperty("rawData").GetString()!));
            Assert.Equal("HttpEndpoint.DestinationException", line.GetProperty("errorCode").GetString());
            Assert.True(line.GetProperty("attemptsMade").GetInt32() >= 1);
            Assert.True(line.GetProperty("attemptEndingTimestamp").GetInt64() >= line.GetProperty("arrivalTimestamp").GetInt64());
        }
        Assert.True(receiver.Requests.Count >= 1);
    }

    [Fact]
    public async Task Bad_http_endpoint_configurations_are_refused_and_create_nothing()
    {
        using var data = new TempDirectory("firehose-http");
        using var receiver = Receiver((_, id) => (200, Ok(id)));
        await using var host = await StartAsync(data);
        var bucket = FirehoseHost.NewBucket();
        var good = Destination(receiver, bucket, 10);
        var cases = new (object Config, string Expected)[]
        {
            (new { EndpointConfiguration = new { Url = "http://localhost:1/x" }, S3Configuration = new { RoleARN = "arn:aws:iam::000000000000:role/r", BucketARN = $"arn:aws:s3:::{bucket}" } }, "not allowed"),
            (new { EndpointConfiguration = new { Url = "ftp://127.0.0.1/x" }, S3Configuration = new { RoleARN = "arn:aws:iam::000000000000:role/r", BucketARN = $"arn:aws:s3:::{bucket}" } }, "https://"),
            (new { EndpointConfiguration = new { Url = receiver.Url } }, "S3Configuration is required"),
            (new { EndpointConfiguration = new { Url = receiver.Url }, BufferingHints = new { SizeInMBs = 65, IntervalInSeconds = 60 }, S3Configuration = new { RoleARN = "arn:aws:iam::000000000000:role/r", BucketARN = $"arn:aws:s3:::{bucket}" } }, "between 1 and 64"),
            (new { EndpointConfiguration = new { Url = receiver.Url }, RetryOptions = new { DurationInSeconds = 7201 }, S3Configuration = new { RoleARN = "arn:aws:iam::000000000000:role/r", BucketARN = $"arn:aws:s3:::{bucket}" } }, "between 0 and 7200"),
        };
        foreach (var (config, expected) in cases)
        {
            var hose = FirehoseHost.NewName("bad");
            var reply = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new { DeliveryStreamName = hose, HttpEndpointDestinationConfiguration = config });
            Assert.True(reply.Status == 400, $"{JsonSerializer.Serialize(config)} answered {reply.Status}: {reply.Body}");
            Assert.Equal("InvalidArgumentException", reply.ErrorType);
            Assert.Contains(expected, reply.Body.GetProperty("message").GetString());
            var described = await host.CallAsync("Firehose_20150804.DescribeDeliveryStream", new { DeliveryStreamName = hose });
            Assert.Equal("ResourceNotFoundException", described.ErrorType);
        }
        // Both an S3 and an HTTP destination: one destination only.
        var both = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new
        {
            DeliveryStreamName = FirehoseHost.NewName("both"),
            HttpEndpointDestinationConfiguration = good,
            S3DestinationConfiguration = new { RoleARN = "arn:aws:iam::000000000000:role/r", BucketARN = $"arn:aws:s3:::{bucket}" },
        });
        Assert.Equal("InvalidArgumentException", both.ErrorType);
    }
}
