using System.Text;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.Analytics.Tests;

/// <summary>
/// Delivery streams as an application's input and output (KinesisFirehoseInput, KinesisFirehoseOutput) and a function
/// as its output (LambdaOutput), on Standalone with Firehose delivering to the S3 server and a function the test runs.
/// </summary>
public sealed class DestinationTests
{
    private const string Role = "arn:aws:iam::000000000000:role/analytics";

    private const string FilterCode = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
          SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE price > 50;
        """;

    private static string Tick(string symbol, double price) => JsonSerializer.Serialize(new { TICKER_SYMBOL = symbol, PRICE = price });

    private static object Input(object source, string member) => new Dictionary<string, object>
    {
        ["NamePrefix"] = "SOURCE_SQL_STREAM",
        [member] = source,
        ["InputSchema"] = new
        {
            RecordFormat = new { RecordFormatType = "JSON", MappingParameters = new { JSONMappingParameters = new { RecordRowPath = "$" } } },
            RecordEncoding = "UTF-8",
            RecordColumns = new[]
            {
                new { Name = "TICKER_SYMBOL", Mapping = "$.TICKER_SYMBOL", SqlType = "VARCHAR(4)" },
                new { Name = "PRICE", Mapping = "$.PRICE", SqlType = "DOUBLE" },
            },
        },
    };

    private static object Output(string member, string arn) => new Dictionary<string, object>
    {
        ["Name"] = "DESTINATION_SQL_STREAM",
        [member] = new { ResourceARN = arn, RoleARN = Role },
        ["DestinationSchema"] = new { RecordFormatType = "JSON" },
    };

    private static string DeliveryStreamArn(string name) => $"arn:aws:firehose:us-east-1:{AnalyticsHost.Account}:deliverystream/{name}";

    private static async Task CreateDeliveryStreamAsync(AnalyticsHost host, string name, string bucket) =>
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = name,
            DeliveryStreamType = "DirectPut",
            ExtendedS3DestinationConfiguration = new
            {
                RoleARN = "arn:aws:iam::000000000000:role/firehose",
                BucketARN = $"arn:aws:s3:::{bucket}",
                BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 },
            },
        });

    [Fact]
    public async Task A_delivery_stream_feeds_an_application_whose_rows_a_delivery_stream_writes_to_S3()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await AnalyticsHost.StartFreshAsync("analytics_firehose");
        var inBucket = await AnalyticsHost.CreateBucketAsync();
        var outBucket = await AnalyticsHost.CreateBucketAsync();
        var source = AnalyticsHost.NewName("ticks-in");
        var target = AnalyticsHost.NewName("ticks-out");
        await CreateDeliveryStreamAsync(host, source, inBucket);
        await CreateDeliveryStreamAsync(host, target, outBucket);
        var application = AnalyticsHost.NewName("firehose-io");
        await host.AnalyticsOkAsync("CreateApplication", new
        {
            ApplicationName = application,
            Inputs = new[] { Input(new { ResourceARN = DeliveryStreamArn(source), RoleARN = Role }, "KinesisFirehoseInput") },
            Outputs = new[] { Output("KinesisFirehoseOutput", DeliveryStreamArn(target)) },
            ApplicationCode = FilterCode,
        });
        var detail = (await host.AnalyticsOkAsync("DescribeApplication", new { ApplicationName = application })).GetProperty("ApplicationDetail");
        Assert.Equal(DeliveryStreamArn(source), detail.GetProperty("InputDescriptions")[0].GetProperty("KinesisFirehoseInputDescription").GetProperty("ResourceARN").GetString());
        Assert.Equal(DeliveryStreamArn(target), detail.GetProperty("OutputDescriptions")[0].GetProperty("KinesisFirehoseOutputDescription").GetProperty("ResourceARN").GetString());
        await host.AnalyticsOkAsync("StartApplication", Trucks.StartRequest(application));
        await host.WaitRunningAsync(application);

        var put = await host.FirehoseAsync("PutRecordBatch", new
        {
            DeliveryStreamName = source,
            Records = new[] { Tick("AAA", 70), Tick("BBB", 20), Tick("CCC", 90.5) }.Select(t => new { Data = Convert.ToBase64String(Encoding.UTF8.GetBytes(t)) }),
        });
        Assert.Equal(0, put.GetProperty("FailedPutCount").GetInt32());

        // The source delivery stream still delivers its own records; the application's rows land in the other bucket.
        var delivered = await Wait.ForAsync(async () => string.Concat(await AnalyticsHost.ReadObjectsAsync(outBucket)) is { } all && all.Contains("CCC", StringComparison.Ordinal) ? all : null,
            TimeSpan.FromSeconds(90), "the application's rows in the output delivery stream's bucket", cancellationToken: ct);
        Assert.Contains("""{"TICKER_SYMBOL":"AAA","PRICE":70}""", delivered, StringComparison.Ordinal);
        Assert.Contains("""{"TICKER_SYMBOL":"CCC","PRICE":90.5}""", delivered, StringComparison.Ordinal);
        Assert.DoesNotContain("BBB", delivered, StringComparison.Ordinal);
        await Wait.UntilAsync(async () => string.Concat(await AnalyticsHost.ReadObjectsAsync(inBucket)).Contains("BBB", StringComparison.Ordinal),
            TimeSpan.FromSeconds(90), "the source delivery stream's own objects", cancellationToken: ct);
    }

    [Fact]
    public async Task Outputs_that_cannot_take_rows_are_refused_when_the_application_is_created()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await AnalyticsHost.StartFreshAsync("analytics_refused");
        var input = AnalyticsHost.NewName("ticks");
        await host.CreateStreamAsync(input, 1);
        var fromStream = AnalyticsHost.NewName("from-stream");
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = fromStream,
            DeliveryStreamType = "KinesisStreamAsSource",
            KinesisStreamSourceConfiguration = new { KinesisStreamARN = AnalyticsHost.StreamArn(input), RoleARN = Role },
            ExtendedS3DestinationConfiguration = new { RoleARN = Role, BucketARN = "arn:aws:s3:::anything" },
        });

        foreach (var (output, expected) in new[]
        {
            (Output("KinesisFirehoseOutput", DeliveryStreamArn(AnalyticsHost.NewName("missing"))), "does not exist"),
            (Output("KinesisFirehoseOutput", DeliveryStreamArn(fromStream)), "only a DirectPut delivery stream takes records"),
            (Output("KinesisFirehoseOutput", AnalyticsHost.StreamArn(input)), "is not a Firehose delivery stream ARN"),
            (Output("LambdaOutput", "arn:aws:lambda:us-east-1:000000000000:function:f"), "is not the function's absolute http(s) URL"),
            (Output("LambdaOutput", "http://10.1.2.3/function"), "an internal address"),
        })
        {
            var reply = await host.AnalyticsAsync("CreateApplication", new
            {
                ApplicationName = AnalyticsHost.NewName("refused"),
                Inputs = new[] { Input(new { ResourceARN = AnalyticsHost.StreamArn(input), RoleARN = Role }, "KinesisStreamsInput") },
                Outputs = new[] { output },
                ApplicationCode = FilterCode,
            });
            Assert.Equal((400, "InvalidArgumentException"), (reply.Status, reply.ErrorType));
            Assert.Contains(expected, reply.Message, StringComparison.Ordinal);
        }
        var list = await host.AnalyticsOkAsync("ListApplications", new { });
        Assert.DoesNotContain(list.GetProperty("ApplicationSummaries").EnumerateArray(), a => a.GetProperty("ApplicationName").GetString()!.StartsWith("refused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rows_reach_a_lambda_output_and_records_it_failed_are_sent_again()
    {
        var ct = TestContext.Current.CancellationToken;
        // The first invocation fails every record; later ones acknowledge them.
        using var function = new LoopbackEndpoint("/function", (n, body) => (200, JsonSerializer.Serialize(new
        {
            records = body.GetProperty("records").EnumerateArray().Select(r => new { recordId = r.GetProperty("recordId").GetString(), result = n == 1 ? "DeliveryFailed" : "Ok" }),
        })));
        await using var host = await AnalyticsHost.StartFreshAsync("analytics_lambda", "--Analytics:AllowedHosts:0=127.0.0.1");
        var input = AnalyticsHost.NewName("ticks");
        await host.CreateStreamAsync(input, 1);
        var application = AnalyticsHost.NewName("lambda-out");
        await host.AnalyticsOkAsync("CreateApplication", new
        {
            ApplicationName = application,
            Inputs = new[] { Input(new { ResourceARN = AnalyticsHost.StreamArn(input), RoleARN = Role }, "KinesisStreamsInput") },
            Outputs = new[] { Output("LambdaOutput", function.Url) },
            ApplicationCode = FilterCode,
        });
        await host.AnalyticsOkAsync("StartApplication", Trucks.StartRequest(application));
        await host.WaitRunningAsync(application);
        await host.PutAsync(input, [("AAA", Tick("AAA", 70)), ("BBB", Tick("BBB", 20)), ("CCC", Tick("CCC", 90.5))]);

        await Wait.UntilAsync(() => Task.FromResult(function.Requests.Count >= 2), TimeSpan.FromSeconds(90), "a failed and a repeated invocation", cancellationToken: ct);
        var requests = function.Requests.ToArray();
        static List<string> Rows(SeenRequest r) =>
            [.. r.Body.GetProperty("records").EnumerateArray().Select(x => Encoding.UTF8.GetString(Convert.FromBase64String(x.GetProperty("data").GetString()!)))];
        static List<int> Hints(SeenRequest r) =>
            [.. r.Body.GetProperty("records").EnumerateArray().Select(x => x.GetProperty("lambdaDeliveryRecordMetadata").GetProperty("retryHint").GetInt32())];
        string[] expected = ["""{"TICKER_SYMBOL":"AAA","PRICE":70}""", """{"TICKER_SYMBOL":"CCC","PRICE":90.5}"""];
        Assert.Equal(expected, Rows(requests[0]));
        Assert.Equal(expected, Rows(requests[1]));
        Assert.Equal([0, 0], Hints(requests[0]));
        Assert.Equal([1, 1], Hints(requests[1]));
        Assert.EndsWith(":application/" + application, requests[0].Body.GetProperty("applicationArn").GetString(), StringComparison.Ordinal);
        Assert.NotEqual(requests[0].Body.GetProperty("invocationId").GetString(), requests[1].Body.GetProperty("invocationId").GetString());

        // Acknowledged rows are not sent again: the next invocation carries only new rows.
        await host.PutAsync(input, [("DDD", Tick("DDD", 99))]);
        await Wait.UntilAsync(() => Task.FromResult(function.Requests.Count >= 3), TimeSpan.FromSeconds(90), "the next row's invocation", cancellationToken: ct);
        Assert.Equal(["""{"TICKER_SYMBOL":"DDD","PRICE":99}"""], Rows(function.Requests.ToArray()[2]));
    }
}
