using System.Text;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>Bad input gets Firehose's error shape and changes nothing: no delivery stream, no record, no object.</summary>
public sealed class BadInputTests
{
    private static Dictionary<string, object?> Destination(string bucket, Dictionary<string, object?>? extra = null)
    {
        var destination = new Dictionary<string, object?>
        {
            ["RoleARN"] = "arn:aws:iam::000000000000:role/firehose",
            ["BucketARN"] = $"arn:aws:s3:::{bucket}",
            ["BufferingHints"] = new { SizeInMBs = 1, IntervalInSeconds = 1 },
        };
        foreach (var (key, value) in extra ?? [])
            destination[key] = value;
        return destination;
    }

    [Fact]
    public async Task Bad_configurations_are_refused_and_create_nothing()
    {
        using var data = new TempDirectory("firehose-bad");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: false);
        var bucket = FirehoseHost.NewBucket();
        var cases = new (string Why, Dictionary<string, object?> Destination)[]
        {
            ("timestamp expression without an error prefix", Destination(bucket, new Dictionary<string, object?> { ["Prefix"] = "p/!{timestamp:yyyy}/" })),
            ("error prefix with expressions but no error output type", Destination(bucket, new Dictionary<string, object?> { ["Prefix"] = "p/!{timestamp:yyyy}/", ["ErrorOutputPrefix"] = "e/!{timestamp:yyyy}/" })),
            ("error output type in Prefix", Destination(bucket, new Dictionary<string, object?> { ["Prefix"] = "p/!{firehose:error-output-type}/", ["ErrorOutputPrefix"] = "e/!{firehose:error-output-type}/" })),
            ("unknown namespace", Destination(bucket, new Dictionary<string, object?> { ["Prefix"] = "p/!{nope:x}/", ["ErrorOutputPrefix"] = "e/!{firehose:error-output-type}/" })),
            ("unclosed expression", Destination(bucket, new Dictionary<string, object?> { ["Prefix"] = "p/!{timestamp:yyyy" })),
            ("unknown destination field", Destination(bucket, new Dictionary<string, object?> { ["BucketArn"] = "arn:aws:s3:::x" })),
            ("size hint out of range", Destination(bucket, new Dictionary<string, object?> { ["BufferingHints"] = new { SizeInMBs = 129, IntervalInSeconds = 60 } })),
            ("bad bucket ARN", Destination(bucket, new Dictionary<string, object?> { ["BucketARN"] = "arn:aws:s3:::" })),
        };
        foreach (var (why, destination) in cases)
        {
            var name = FirehoseHost.NewName("bad");
            var reply = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new { DeliveryStreamName = name, ExtendedS3DestinationConfiguration = destination });
            Assert.True(reply.Status == 400 && reply.ErrorType == "InvalidArgumentException", $"{why}: {reply.Status} {reply.Body}");
            var describe = await host.CallAsync("Firehose_20150804.DescribeDeliveryStream", new { DeliveryStreamName = name });
            Assert.Equal("ResourceNotFoundException", describe.ErrorType);
        }
        var list = await host.FirehoseAsync("ListDeliveryStreams", new { });
        Assert.Equal(0, list.GetProperty("DeliveryStreamNames").GetArrayLength());

        var unknownTop = await host.CallAsync("Firehose_20150804.CreateDeliveryStream", new { DeliveryStreamName = "x", Bogus = 1, ExtendedS3DestinationConfiguration = Destination(bucket) });
        Assert.Equal("InvalidArgumentException", unknownTop.ErrorType);
        var malformed = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("{not json", Encoding.UTF8) };
        malformed.Content.Headers.ContentType = new("application/x-amz-json-1.1");
        malformed.Headers.Add("X-Amz-Target", "Firehose_20150804.CreateDeliveryStream");
        using var response = await host.Http.SendAsync(malformed, TestContext.Current.CancellationToken);
        Assert.Equal(400, (int)response.StatusCode);
    }

    [Fact]
    public async Task Oversized_records_and_batches_are_refused_and_nothing_is_delivered()
    {
        using var data = new TempDirectory("firehose-bad");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: false);
        var hose = FirehoseHost.NewName("limits");
        var bucket = FirehoseHost.NewBucket();
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = hose, ExtendedS3DestinationConfiguration = Destination(bucket) });

        var oversized = await host.CallAsync("Firehose_20150804.PutRecord", new { DeliveryStreamName = hose, Record = new { Data = new byte[1000 * 1024 + 1] } });
        Assert.Equal((400, "InvalidArgumentException"), (oversized.Status, oversized.ErrorType));
        var tooMany = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = Enumerable.Range(0, 501).Select(_ => new { Data = new byte[] { 1 } }).ToArray() });
        Assert.Equal((400, "InvalidArgumentException"), (tooMany.Status, tooMany.ErrorType));
        var tooBig = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = Enumerable.Range(0, 5).Select(_ => new { Data = new byte[1000 * 1024] }).ToArray() });
        Assert.Equal((400, "InvalidArgumentException"), (tooBig.Status, tooBig.ErrorType));
        var missing = await host.CallAsync("Firehose_20150804.PutRecord", new { DeliveryStreamName = "no-such-hose", Record = new { Data = new byte[] { 1 } } });
        Assert.Equal("ResourceNotFoundException", missing.ErrorType);
        // PutRecordBatch's one-pass reader refuses what the API does, and nothing of a refused batch is stored.
        var empty = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = Array.Empty<object>() });
        Assert.Equal((400, "InvalidArgumentException"), (empty.Status, empty.ErrorType));
        var unknownField = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = new object[] { new { Data = new byte[] { 1 } }, new { Data = new byte[] { 2 }, Extra = 1 } } });
        Assert.Equal((400, "InvalidArgumentException", "Record has no member Extra."), (unknownField.Status, unknownField.ErrorType, unknownField.Body.GetProperty("message").GetString()));
        var noData = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = new object[] { new { Data = new byte[] { 1 } }, new { } } });
        Assert.Equal((400, "InvalidArgumentException", "Records.2.Data is required."), (noData.Status, noData.ErrorType, noData.Body.GetProperty("message").GetString()));
        var notAList = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = "AQ==" });
        Assert.Equal((400, "SerializationException"), (notAList.Status, notAList.ErrorType));
        var notBase64 = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = new object[] { new { Data = "not base64!" } } });
        Assert.Equal((400, "SerializationException"), (notBase64.Status, notBase64.ErrorType));
        var noName = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { Records = new object[] { new { Data = new byte[] { 1 } } } });
        Assert.Equal((400, "InvalidArgumentException", "DeliveryStreamName is required."), (noName.Status, noName.ErrorType, noName.Body.GetProperty("message").GetString()));
        var stray = await host.CallAsync("Firehose_20150804.PutRecordBatch", new { DeliveryStreamName = hose, Records = new object[] { new { Data = new byte[] { 1 } } }, Stray = true });
        Assert.Equal((400, "InvalidArgumentException"), (stray.Status, stray.ErrorType));

        // A record accepted after the refusals is the only one delivered: the refused calls stored nothing.
        await host.FirehoseAsync("PutRecord", new { DeliveryStreamName = hose, Record = new { Data = Encoding.UTF8.GetBytes("only") } });
        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        Assert.Equal("only", Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key)));
    }

    [Fact]
    public async Task Tags_and_encryption_are_recorded_and_reported()
    {
        using var data = new TempDirectory("firehose-bad");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: false);
        var hose = FirehoseHost.NewName("tags");
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = Destination(FirehoseHost.NewBucket()),
            Tags = new[] { new { Key = "team", Value = "data" } },
        });
        await host.FirehoseAsync("TagDeliveryStream", new { DeliveryStreamName = hose, Tags = new[] { new { Key = "env", Value = "test" } } });
        await host.FirehoseAsync("UntagDeliveryStream", new { DeliveryStreamName = hose, TagKeys = new[] { "team" } });
        var tags = await host.FirehoseAsync("ListTagsForDeliveryStream", new { DeliveryStreamName = hose });
        var tag = Assert.Single(tags.GetProperty("Tags").EnumerateArray());
        Assert.Equal(("env", "test"), (tag.GetProperty("Key").GetString(), tag.GetProperty("Value").GetString()));
        Assert.False(tags.GetProperty("HasMoreTags").GetBoolean());

        var tooMany = await host.CallAsync("Firehose_20150804.TagDeliveryStream", new
        {
            DeliveryStreamName = hose, Tags = Enumerable.Range(0, 50).Select(i => new { Key = $"k{i}", Value = "v" }).ToArray(),
        });
        Assert.Equal("LimitExceededException", tooMany.ErrorType);

        await host.FirehoseAsync("StartDeliveryStreamEncryption", new { DeliveryStreamName = hose, DeliveryStreamEncryptionConfigurationInput = new { KeyType = "AWS_OWNED_CMK" } });
        var d = (await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose })).GetProperty("DeliveryStreamDescription");
        Assert.Equal("ENABLED", d.GetProperty("DeliveryStreamEncryptionConfiguration").GetProperty("Status").GetString());
        Assert.Equal("AWS_OWNED_CMK", d.GetProperty("DeliveryStreamEncryptionConfiguration").GetProperty("KeyType").GetString());
        var put = await host.FirehoseAsync("PutRecord", new { DeliveryStreamName = hose, Record = new { Data = new byte[] { 1 } } });
        Assert.True(put.GetProperty("Encrypted").GetBoolean());
        await host.FirehoseAsync("StopDeliveryStreamEncryption", new { DeliveryStreamName = hose });
        d = (await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose })).GetProperty("DeliveryStreamDescription");
        Assert.Equal("DISABLED", d.GetProperty("DeliveryStreamEncryptionConfiguration").GetProperty("Status").GetString());
    }
}
