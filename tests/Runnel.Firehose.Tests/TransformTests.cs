using System.Text;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>
/// Record transformation through a Lambda processor (an HTTP function the test stands up on loopback, allowed by
/// <c>Firehose:AllowedHosts</c>) and dynamic partitioning, delivered to the S3 server and read back from it.
/// </summary>
public sealed class TransformTests
{
    private static LoopbackEndpoint Function(Func<int, JsonElement, (int Status, string Body)> answer) => new("/transform", answer);

    /// <summary>The answer of a function that applies <paramref name="each"/> to every record's decoded data.</summary>
    private static string Answer(JsonElement request, Func<string, (string Result, string? Data, object? Keys)> each) =>
        JsonSerializer.Serialize(new
        {
            records = request.GetProperty("records").EnumerateArray().Select(r =>
            {
                var (result, data, keys) = each(Encoding.UTF8.GetString(Convert.FromBase64String(r.GetProperty("data").GetString()!)));
                return new
                {
                    recordId = r.GetProperty("recordId").GetString(),
                    result,
                    data = data is null ? null : Convert.ToBase64String(Encoding.UTF8.GetBytes(data)),
                    metadata = keys is null ? null : new { partitionKeys = keys },
                };
            }),
        });

    /// <summary>Ok: upper-cased with a newline; Dropped for "drop-"; ProcessingFailed for "fail-".</summary>
    private static (string, string?, object?) Upper(string data) =>
        data.StartsWith("drop-", StringComparison.Ordinal) ? ("Dropped", null, null)
        : data.StartsWith("fail-", StringComparison.Ordinal) ? ("ProcessingFailed", null, null)
        : ("Ok", data.ToUpperInvariant() + "\n", null);

    private static Task<FirehoseHost> StartAsync(TempDirectory data) =>
        FirehoseHost.StartAsync(data.Path, s3: true, "--Firehose:AllowedHosts:0=127.0.0.1");

    private static object LambdaProcessor(string url, int retries) => new
    {
        Type = "Lambda",
        Parameters = new[]
        {
            new { ParameterName = "LambdaArn", ParameterValue = url },
            new { ParameterName = "NumberOfRetries", ParameterValue = retries.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            new { ParameterName = "BufferSizeInMBs", ParameterValue = "0.5" },
        },
    };

    /// <summary>An ExtendedS3DestinationConfiguration with the given processing, partitioning, prefixes and buffering hints.</summary>
    private static object Extended(string bucket, object? processing = null, object? partitioning = null, string? prefix = null,
        string? errorPrefix = "errors/!{firehose:error-output-type}/", int size = 1, int interval = 1) => new
    {
        RoleARN = "arn:aws:iam::000000000000:role/firehose",
        BucketARN = $"arn:aws:s3:::{bucket}",
        Prefix = prefix,
        ErrorOutputPrefix = errorPrefix,
        BufferingHints = new { SizeInMBs = size, IntervalInSeconds = interval },
        ProcessingConfiguration = processing,
        DynamicPartitioningConfiguration = partitioning,
    };

    private static async Task PutAsync(FirehoseHost host, string hose, IEnumerable<string> records)
    {
        var put = await host.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = records.Select(r => new { Data = Encoding.UTF8.GetBytes(r) }).ToArray() });
        Assert.Equal(0, put.GetProperty("FailedPutCount").GetInt32());
    }

    private static async Task<string> TextAsync(FirehoseHost host, string bucket, string key) => Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key));

    private static JsonElement[] Lines(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public async Task Ok_records_are_delivered_transformed_dropped_ones_vanish_and_failed_ones_land_under_processing_failed_after_a_500_is_retried()
    {
        using var data = new TempDirectory("firehose-transform");
        using var function = Function((n, request) => n == 1 ? (500, "{\"errorMessage\":\"cold start\"}") : (200, Answer(request, Upper)));
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("xform");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        var destination = JsonSerializer.Serialize(Extended(bucket, new { Enabled = true, Processors = new[] { LambdaProcessor(function.Url, 3) } }, prefix: "ok/", interval: 60),
            new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull });
        await host.CliAsync("firehose", "create-delivery-stream", "--delivery-stream-name", hose, "--extended-s3-destination-configuration", destination);
        // The AWS CLI refuses intervals below 60 s; the API takes them, and the processing configuration stays as created.
        await host.FirehoseAsync("UpdateDestination", new
        {
            DeliveryStreamName = hose,
            CurrentDeliveryStreamVersionId = "1",
            DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 } },
        });

        string[] records = ["keep-1", "drop-2", "fail-3", "keep-4", "drop-5", "fail-6"];
        await PutAsync(host, hose, records);

        var keys = await host.WaitForObjectsAsync(bucket, 2);
        Assert.Equal(2, keys.Count);
        var delivered = Assert.Single(keys, k => k.StartsWith("ok/", StringComparison.Ordinal));
        Assert.Matches(@"^ok/\d{4}/\d{2}/\d{2}/\d{2}/" + hose + @"-2-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}$", delivered);
        Assert.Equal("KEEP-1\nKEEP-4\n", await TextAsync(host, bucket, delivered));

        var failedKey = Assert.Single(keys, k => k.StartsWith("errors/processing-failed/", StringComparison.Ordinal));
        var failed = Lines(await TextAsync(host, bucket, failedKey));
        Assert.Equal(["fail-3", "fail-6"], failed.Select(f => Encoding.UTF8.GetString(Convert.FromBase64String(f.GetProperty("rawData").GetString()!))));
        Assert.All(failed, f =>
        {
            Assert.Equal("Lambda.ProcessingFailedStatus", f.GetProperty("errorCode").GetString());
            Assert.Equal(function.Url, f.GetProperty("lambdaArn").GetString());
            Assert.Equal(2, f.GetProperty("attemptsMade").GetInt32());
            Assert.True(f.GetProperty("attemptEndingTimestamp").GetInt64() >= f.GetProperty("arrivalTimestamp").GetInt64());
        });

        // The function saw the contract twice: the refused invocation and its retry, with the same records.
        var requests = function.Requests.Select(r => r.Body).ToArray();
        Assert.Equal(2, requests.Length);
        var first = requests[0];
        Assert.True(Guid.TryParse(first.GetProperty("invocationId").GetString(), out _));
        Assert.Equal($"arn:aws:firehose:us-east-1:000000000000:deliverystream/{hose}", first.GetProperty("deliveryStreamArn").GetString());
        Assert.Equal("us-east-1", first.GetProperty("region").GetString());
        var sent = first.GetProperty("records").EnumerateArray().ToArray();
        Assert.Equal(records, sent.Select(r => Encoding.UTF8.GetString(Convert.FromBase64String(r.GetProperty("data").GetString()!))));
        Assert.All(sent, r => Assert.True(r.GetProperty("approximateArrivalTimestamp").GetInt64() > 1_600_000_000_000));
        Assert.Equal(sent.Length, sent.Select(r => r.GetProperty("recordId").GetString()).Distinct().Count());
        Assert.Equal(first.GetProperty("records").GetRawText(), requests[1].GetProperty("records").GetRawText());

        // One failed and one answered invocation; four records processed (Ok or Dropped), 14 bytes returned.
        var scrape = await host.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Equal(1, MetricsTests.Value(scrape, "ExecuteProcessing_Success_total", hose));
        Assert.Equal(1, MetricsTests.Value(scrape, "ExecuteProcessing_Failures_total", hose));
        Assert.Equal(4, MetricsTests.Value(scrape, "SucceedProcessing_Records_total", hose));
        Assert.Equal(14, MetricsTests.Value(scrape, "SucceedProcessing_Bytes_bytes_total", hose) ?? MetricsTests.Value(scrape, "SucceedProcessing_Bytes_total", hose));
        Assert.Contains("ExecuteProcessing_Duration", scrape);

        // Described as configured, with AWS's defaults filled in.
        var described = await host.CliAsync("firehose", "describe-delivery-stream", "--delivery-stream-name", hose);
        var processing = described!["DeliveryStreamDescription"]!["Destinations"]![0]!["ExtendedS3DestinationDescription"]!["ProcessingConfiguration"]!;
        Assert.True(processing["Enabled"]!.GetValue<bool>());
        var parameters = processing["Processors"]![0]!["Parameters"]!.AsArray().ToDictionary(p => p!["ParameterName"]!.GetValue<string>(), p => p!["ParameterValue"]!.GetValue<string>());
        Assert.Equal(function.Url, parameters["LambdaArn"]);
        Assert.Equal("3", parameters["NumberOfRetries"]);
        Assert.Equal("0.5", parameters["BufferSizeInMBs"]);
        Assert.Equal("60", parameters["BufferIntervalInSeconds"]);
    }

    [Fact]
    public async Task An_invocation_that_keeps_failing_sends_its_records_to_processing_failed_after_NumberOfRetries()
    {
        using var data = new TempDirectory("firehose-transform");
        // Answers without the second record: a missing record id fails the whole invocation.
        using var function = Function((_, request) =>
        {
            var answer = JsonDocument.Parse(Answer(request, Upper)).RootElement;
            return (200, JsonSerializer.Serialize(new { records = answer.GetProperty("records").EnumerateArray().Take(1).ToArray() }));
        });
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("xfail");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = Extended(bucket, new { Enabled = true, Processors = new[] { LambdaProcessor(function.Url, 1) } }, errorPrefix: null),
        });
        await PutAsync(host, hose, ["keep-a", "keep-b"]);

        // No ErrorOutputPrefix: <Prefix>processing-failed/yyyy/MM/dd/HH/.
        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        Assert.Matches(@"^processing-failed/\d{4}/\d{2}/\d{2}/\d{2}/" + hose + "-1-", key);
        var failed = Lines(await TextAsync(host, bucket, key));
        Assert.Equal(["keep-a", "keep-b"], failed.Select(f => Encoding.UTF8.GetString(Convert.FromBase64String(f.GetProperty("rawData").GetString()!))));
        Assert.All(failed, f =>
        {
            Assert.Equal("Lambda.MissingRecordId", f.GetProperty("errorCode").GetString());
            Assert.Equal(2, f.GetProperty("attemptsMade").GetInt32());
        });
        Assert.Equal(2, function.Requests.Count);
    }

    [Fact]
    public async Task Dynamic_partitioning_writes_each_partition_under_its_keys_prefix_and_unparsable_records_under_partitioning_failed()
    {
        using var data = new TempDirectory("firehose-partition");
        // The function adds a key of its own: the region, from the record's "r" member.
        using var function = Function((_, request) => (200, Answer(request, d =>
            d.StartsWith('{') ? ("Ok", d, new { region = JsonDocument.Parse(d).RootElement.GetProperty("r").GetString() }) : ("Ok", d, null))));
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("part");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = Extended(bucket,
                prefix: "customer_id=!{partitionKeyFromQuery:customer_id}/year=!{partitionKeyFromQuery:year}/region=!{partitionKeyFromLambda:region}/",
                size: 64, partitioning: new { Enabled = true }, processing: new
                {
                    Enabled = true,
                    Processors = new object[]
                    {
                        LambdaProcessor(function.Url, 3),
                        new
                        {
                            Type = "MetadataExtraction",
                            Parameters = new[]
                            {
                                new { ParameterName = "MetadataExtractionQuery", ParameterValue = "{customer_id: .customer.id, year: .ts | strftime(\"%Y\")}" },
                                new { ParameterName = "JsonParsingEngine", ParameterValue = "JQ-1.6" },
                            },
                        },
                        new { Type = "AppendDelimiterToRecord", Parameters = new[] { new { ParameterName = "Delimiter", ParameterValue = "\\n" } } },
                    },
                }),
        });
        // 1565382027 is 2019-08-09 20:20:27 UTC; 1700000000 is 2023-11-14.
        string[] records =
        [
            """{"customer":{"id":"c1"},"ts":1565382027,"r":"eu"}""",
            """{"customer":{"id":"c2"},"ts":1565382027,"r":"eu"}""",
            "not json",
            """{"customer":{"id":"c1"},"ts":1700000000,"r":"eu"}""",
            """{"customer":{"id":"c1"},"ts":1565382027,"r":"eu","n":2}""",
            """{"customer":{},"ts":1565382027,"r":"us"}""",
        ];
        await PutAsync(host, hose, records);

        var keys = await host.WaitForObjectsAsync(bucket, 4);
        Assert.Equal(4, keys.Count);
        string Object(string prefix) => Assert.Single(keys, k => k.StartsWith(prefix, StringComparison.Ordinal));
        var c1In2019 = Object("customer_id=c1/year=2019/region=eu/");
        Assert.Matches(@"^customer_id=c1/year=2019/region=eu/" + hose + @"-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}$", c1In2019);
        Assert.Equal(records[0] + "\n" + records[4] + "\n", await TextAsync(host, bucket, c1In2019));
        Assert.Equal(records[1] + "\n", await TextAsync(host, bucket, Object("customer_id=c2/year=2019/region=eu/")));
        Assert.Equal(records[3] + "\n", await TextAsync(host, bucket, Object("customer_id=c1/year=2023/region=eu/")));

        var failed = Lines(await TextAsync(host, bucket, Object("errors/partitioning-failed/")));
        Assert.Equal([records[2], records[5]], failed.Select(f => Encoding.UTF8.GetString(Convert.FromBase64String(f.GetProperty("rawData").GetString()!))));
        Assert.All(failed, f => Assert.Equal("DynamicPartitioning.MetadataExtractionFailed", f.GetProperty("errorCode").GetString()));
        Assert.Contains("customer_id", failed[1].GetProperty("errorMessage").GetString());

        var described = await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose });
        var s3 = described.GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0].GetProperty("ExtendedS3DestinationDescription");
        Assert.True(s3.GetProperty("DynamicPartitioningConfiguration").GetProperty("Enabled").GetBoolean());
        Assert.Equal(300, s3.GetProperty("DynamicPartitioningConfiguration").GetProperty("RetryOptions").GetProperty("DurationInSeconds").GetInt32());

        // Partitioning was chosen at creation and stays.
        var update = await host.CallAsync("Firehose_20150804.UpdateDestination", new
        {
            DeliveryStreamName = hose,
            CurrentDeliveryStreamVersionId = "1",
            DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { DynamicPartitioningConfiguration = new { Enabled = false } },
        });
        Assert.Equal("InvalidArgumentException", update.ErrorType);
        Assert.Contains("cannot be disabled", update.Body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_restart_between_the_objects_of_a_range_and_its_checkpoint_runs_the_function_again_and_rewrites_the_same_keys()
    {
        using var data = new TempDirectory("firehose-transform-restart");
        using var function = Function((_, request) => (200, Answer(request, d =>
            d.StartsWith("drop-", StringComparison.Ordinal) || d.StartsWith("fail-", StringComparison.Ordinal) ? Upper(d) : ("Ok", d, null))));
        var hose = FirehoseHost.NewName("replay");
        var bucket = FirehoseHost.NewBucket();
        var extraction = Extraction("{c: .c}");
        string[] records = ["""{"c":"x"}""", """{"c":"y"}""", "drop-1", "fail-1", """{"c":"x","n":2}"""];
        IReadOnlyList<string> keys;
        var contents = new Dictionary<string, byte[]>();
        string[] allowLoopback = ["--Firehose:AllowedHosts:0=127.0.0.1"];
        await using (var first = await FirehoseHost.StartAsync(data.Path, s3: false, allowLoopback))
        {
            await first.FirehoseAsync("CreateDeliveryStream", new
            {
                DeliveryStreamName = hose,
                ExtendedS3DestinationConfiguration = Extended(bucket, new { Enabled = true, Processors = new object[] { LambdaProcessor(function.Url, 0), extraction } },
                    new { Enabled = true }, prefix: "c=!{partitionKeyFromQuery:c}/", size: 64),
            });
            await PutAsync(first, hose, records);
            keys = await first.WaitForObjectsAsync(bucket, 3);
            foreach (var key in keys)
                contents[key] = await first.Buckets.ReadAsync(bucket, key);
            await RestartTests.WaitForCheckpointAsync(first.Services, hose, c => c is not null && !c.Contains('|'));
        }
        Assert.Equal(3, keys.Count);
        var x = Assert.Single(keys, k => k.StartsWith("c=x/", StringComparison.Ordinal));
        Assert.Equal(records[0] + records[4], Encoding.UTF8.GetString(contents[x]));
        Assert.Single(keys, k => k.StartsWith("errors/processing-failed/", StringComparison.Ordinal));
        var calls = function.Requests.Count;

        // A crash after some of the range's objects were written: one of them is missing and the range is still pending.
        File.Delete(Path.Combine(data.Path, "buckets", bucket, Assert.Single(keys, k => k.StartsWith("c=y/", StringComparison.Ordinal))));
        await RestartTests.SetCheckpointAsync(data.Path, hose, $"|{new Runnel.Core.Streams.SequenceNumber(0, 0)}..{new Runnel.Core.Streams.SequenceNumber(0, 4)}");

        await using var second = await FirehoseHost.StartAsync(data.Path, s3: false, allowLoopback);
        await RestartTests.WaitForCheckpointAsync(second.Services, hose, c => c == new Runnel.Core.Streams.SequenceNumber(0, 4).ToString());
        Assert.Equal(keys, await second.Buckets.KeysAsync(bucket));
        foreach (var key in keys.Where(k => k.StartsWith("c=", StringComparison.Ordinal)))
            Assert.Equal(contents[key], await second.Buckets.ReadAsync(bucket, key));
        Assert.True(function.Requests.Count > calls, "the function was not called again for the replayed range");
    }

    private static object Extraction(string query, string engine = "JQ-1.6") => new
    {
        Type = "MetadataExtraction",
        Parameters = new[]
        {
            new { ParameterName = "MetadataExtractionQuery", ParameterValue = query },
            new { ParameterName = "JsonParsingEngine", ParameterValue = engine },
        },
    };

    private static object DeAggregation(string type) => new { Type = "RecordDeAggregation", Parameters = new[] { new { ParameterName = "SubRecordType", ParameterValue = type } } };

    [Fact]
    public async Task Aggregated_JSON_records_are_split_before_partitioning()
    {
        using var data = new TempDirectory("firehose-partition");
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("deagg");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        var extraction = Extraction("{c: .c}");
        var delimiter = new { Type = "AppendDelimiterToRecord", Parameters = Array.Empty<object>() };
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = Extended(bucket, new { Enabled = true, Processors = new object[] { DeAggregation("JSON"), extraction, delimiter } },
                new { Enabled = true }, prefix: "c=!{partitionKeyFromQuery:c}/", size: 64),
        });
        await PutAsync(host, hose, ["""{"c":"a","n":1}{"c":"b"}""" + "\n" + """{"c":"a","n":2}""", """{"c":"b","n":3}"""]);

        var keys = await host.WaitForObjectsAsync(bucket, 2);
        Assert.Equal(2, keys.Count);
        Assert.Equal("{\"c\":\"a\",\"n\":1}\n{\"c\":\"a\",\"n\":2}\n", await TextAsync(host, bucket, Assert.Single(keys, k => k.StartsWith("c=a/", StringComparison.Ordinal))));
        Assert.Equal("{\"c\":\"b\"}\n{\"c\":\"b\",\"n\":3}\n", await TextAsync(host, bucket, Assert.Single(keys, k => k.StartsWith("c=b/", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task Records_of_partitions_beyond_500_in_one_flush_go_to_partitioning_failed()
    {
        using var data = new TempDirectory("firehose-partition");
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("many");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        var extraction = Extraction("{c: .c}");
        // Both batches arrive well within the 10 s interval, so they are written together.
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = Extended(bucket, new { Enabled = true, Processors = new[] { extraction } }, new { Enabled = true },
                prefix: "c=!{partitionKeyFromQuery:c}/", size: 64, interval: 10),
        });
        var records = Enumerable.Range(0, 502).Select(i => $"{{\"c\":{i}}}").ToArray();
        await PutAsync(host, hose, records[..300]);
        await PutAsync(host, hose, records[300..]);

        var keys = await host.WaitForObjectsAsync(bucket, 501, TimeSpan.FromSeconds(180));
        Assert.Equal(501, keys.Count);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"c={i}/").Order(StringComparer.Ordinal),
            keys.Where(k => k.StartsWith("c=", StringComparison.Ordinal)).Select(k => k[..(k.IndexOf('/') + 1)]).Order(StringComparer.Ordinal));
        var failed = Lines(await TextAsync(host, bucket, Assert.Single(keys, k => k.StartsWith("errors/partitioning-failed/", StringComparison.Ordinal))));
        Assert.Equal([records[500], records[501]], failed.Select(f => Encoding.UTF8.GetString(Convert.FromBase64String(f.GetProperty("rawData").GetString()!))));
        Assert.All(failed, f => Assert.Equal("DynamicPartitioning.PartitionCountExceeded", f.GetProperty("errorCode").GetString()));
    }

    [Fact]
    public async Task Bad_processing_and_partitioning_configurations_are_refused_and_create_nothing()
    {
        using var data = new TempDirectory("firehose-transform");
        await using var host = await StartAsync(data);
        var bucket = FirehoseHost.NewBucket();
        object Config(object? processing = null, object? partitioning = null, string? prefix = null, string? errorPrefix = "errors/!{firehose:error-output-type}/", int size = 64) =>
            Extended(bucket, processing, partitioning, prefix, errorPrefix, size, interval: 60);
        var partitioned = new { Enabled = true };
        var byCustomer = new { Enabled = true, Processors = new[] { Extraction("{customer_id: .customer_id}") } };
        const string CustomerPrefix = "c=!{partitionKeyFromQuery:customer_id}/";
        var cases = new (object Config, string Expected)[]
        {
            (Config(byCustomer, partitioned, prefix: "plain/"), "at least one !{partitionKeyFromQuery"),
            (Config(byCustomer, partitioned, prefix: CustomerPrefix, errorPrefix: null), "ErrorOutputPrefix"),
            (Config(byCustomer, partitioned, prefix: CustomerPrefix, size: 5), "at least 64"),
            (Config(byCustomer, prefix: CustomerPrefix), "needs dynamic partitioning"),
            (Config(new { Enabled = true, Processors = new[] { Extraction("{other: .x}") } }, partitioned, prefix: CustomerPrefix), "defines the key customer_id"),
            (Config(new { Enabled = true, Processors = new[] { Extraction("{customer_id: .x | test(\"a\")}") } }, partitioned, prefix: CustomerPrefix), "not a supported function"),
            (Config(new { Enabled = true, Processors = new[] { Extraction("{customer_id: .x}", "JQ-1.5") } }, partitioned, prefix: CustomerPrefix), "JQ-1.6"),
            (Config(byCustomer, partitioned, prefix: CustomerPrefix, errorPrefix: "e/!{firehose:error-output-type}/!{partitionKeyFromQuery:customer_id}/"), "only in Prefix"),
            (Config(new { Enabled = true, Processors = new[] { LambdaProcessor("arn:aws:lambda:us-east-1:000000000000:function:f", 3) } }), "http(s) URL"),
            (Config(new { Enabled = true, Processors = new[] { LambdaProcessor("http://localhost:1/f", 3) } }), "not allowed"),
            (Config(new { Enabled = true, Processors = new[] { LambdaProcessor("http://127.0.0.1:1/f", 301) } }), "NumberOfRetries"),
            (Config(new { Enabled = true, Processors = new[] { new { Type = "Decompression", Parameters = Array.Empty<object>() } } }), "not supported"),
            (Config(new { Enabled = true, Processors = new[] { new { Type = "Upcase", Parameters = Array.Empty<object>() } } }), "must be one of"),
            (Config(new { Enabled = true }, partitioned, prefix: "c=!{partitionKeyFromLambda:region}/"), "needs an enabled Lambda processor"),
            (Config(new { Enabled = true, Processors = new object[] { DeAggregation("XML"), Extraction("{customer_id: .customer_id}") } }, partitioned, prefix: CustomerPrefix), "JSON or DELIMITED"),
            (Config(new { Enabled = true, Processors = new object[] { DeAggregation("DELIMITED"), Extraction("{customer_id: .customer_id}") } }, partitioned, prefix: CustomerPrefix), "needs the parameter Delimiter"),
        };
        foreach (var (config, expected) in cases)
        {
            var hose = FirehoseHost.NewName("bad");
            var reply = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new { DeliveryStreamName = hose, ExtendedS3DestinationConfiguration = config });
            Assert.True(reply.Status == 400, $"{JsonSerializer.Serialize(config)} answered {reply.Status}: {reply.Body}");
            Assert.Equal("InvalidArgumentException", reply.ErrorType);
            Assert.Contains(expected, reply.Body.GetProperty("message").GetString());
            var described = await host.CallAsync("Firehose_20150804.DescribeDeliveryStream", new { DeliveryStreamName = hose });
            Assert.Equal("ResourceNotFoundException", described.ErrorType);
        }

        // Dynamic partitioning cannot be turned on for an existing delivery stream.
        var plain = FirehoseHost.NewName("plain");
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = plain, ExtendedS3DestinationConfiguration = Config(size: 5) });
        var update = await host.CallAsync("Firehose_20150804.UpdateDestination", new
        {
            DeliveryStreamName = plain,
            CurrentDeliveryStreamVersionId = "1",
            DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { DynamicPartitioningConfiguration = partitioned, Prefix = CustomerPrefix, ProcessingConfiguration = byCustomer, BufferingHints = new { SizeInMBs = 64 } },
        });
        Assert.Equal("InvalidArgumentException", update.ErrorType);
        Assert.Contains("only be enabled when the delivery stream is created", update.Body.GetProperty("message").GetString());
        var after = await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = plain });
        Assert.Equal("1", after.GetProperty("DeliveryStreamDescription").GetProperty("VersionId").GetString());
        Assert.False(after.GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0].GetProperty("ExtendedS3DestinationDescription")
            .TryGetProperty("DynamicPartitioningConfiguration", out _));
    }

    [Fact]
    public async Task Source_record_backup_keeps_the_records_as_they_arrived_and_cannot_be_disabled()
    {
        using var data = new TempDirectory("firehose-backup");
        using var function = Function((_, request) => (200, Answer(request, Upper)));
        await using var host = await StartAsync(data);
        var hose = FirehoseHost.NewName("backup");
        var bucket = FirehoseHost.NewBucket();
        var backups = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.Buckets.CreateAsync(backups);
        var backup = new
        {
            RoleARN = "arn:aws:iam::000000000000:role/firehose",
            BucketARN = $"arn:aws:s3:::{backups}",
            Prefix = "source/",
            CompressionFormat = "GZIP",
        };
        var refused = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = new { RoleARN = "arn:aws:iam::000000000000:role/firehose", BucketARN = $"arn:aws:s3:::{bucket}", S3BackupMode = "Enabled" },
        });
        Assert.Equal((400, "InvalidArgumentException"), (refused.Status, refused.ErrorType));

        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = new
            {
                RoleARN = "arn:aws:iam::000000000000:role/firehose",
                BucketARN = $"arn:aws:s3:::{bucket}",
                BufferingHints = new { SizeInMBs = 1, IntervalInSeconds = 1 },
                ProcessingConfiguration = new { Enabled = true, Processors = new[] { LambdaProcessor(function.Url, 0) } },
                S3BackupMode = "Enabled",
                S3BackupConfiguration = backup,
            },
        });
        var described = (await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose }))
            .GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0].GetProperty("ExtendedS3DestinationDescription");
        Assert.Equal("Enabled", described.GetProperty("S3BackupMode").GetString());
        Assert.Equal($"arn:aws:s3:::{backups}", described.GetProperty("S3BackupDescription").GetProperty("BucketARN").GetString());
        Assert.Equal("source/", described.GetProperty("S3BackupDescription").GetProperty("Prefix").GetString());

        string[] records = ["alpha\n", "beta\n", "gamma\n"];
        await PutAsync(host, hose, records);
        var delivered = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        Assert.Equal("ALPHA\n\nBETA\n\nGAMMA\n\n", await TextAsync(host, bucket, delivered));
        var source = Assert.Single(await host.WaitForObjectsAsync(backups, 1));
        Assert.Matches(@"^source/\d{4}/\d{2}/\d{2}/\d{2}/" + hose + @"-1-.+\.gz$", source);
        using (var gzip = new System.IO.Compression.GZipStream(new MemoryStream(await host.Buckets.ReadAsync(backups, source)), System.IO.Compression.CompressionMode.Decompress))
        using (var plain = new StreamReader(gzip))
            Assert.Equal(string.Concat(records), await plain.ReadToEndAsync(TestContext.Current.CancellationToken));
        await Wait.UntilAsync(async () => MetricsTests.Value(await host.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken),
            "BackupToS3_Records_total", hose) == records.Length, TimeSpan.FromSeconds(60), "3 backed-up records in the metrics", TimeSpan.FromMilliseconds(200),
            TestContext.Current.CancellationToken);

        var disable = await host.CallAsync("Firehose_20150804.UpdateDestination", new
        {
            DeliveryStreamName = hose,
            CurrentDeliveryStreamVersionId = "1",
            DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { S3BackupMode = "Disabled" },
        });
        Assert.Equal((400, "InvalidArgumentException"), (disable.Status, disable.ErrorType));
        Assert.Contains("cannot be changed from Enabled to Disabled", disable.Body.GetProperty("message").GetString(), StringComparison.Ordinal);
        await host.FirehoseAsync("UpdateDestination", new
        {
            DeliveryStreamName = hose,
            CurrentDeliveryStreamVersionId = "1",
            DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { S3BackupUpdate = new { Prefix = "raw/" } },
        });
        var updated = (await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose }))
            .GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0].GetProperty("ExtendedS3DestinationDescription");
        Assert.Equal(("Enabled", "raw/", "GZIP"), (updated.GetProperty("S3BackupMode").GetString(),
            updated.GetProperty("S3BackupDescription").GetProperty("Prefix").GetString(),
            updated.GetProperty("S3BackupDescription").GetProperty("CompressionFormat").GetString()));
    }
}
