using System.Globalization;
using System.Text;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>
/// The walkthrough of the issue with the AWS CLI against Standalone: a data stream as source, or Direct PUT, delivered to
/// a bucket with the notes' hints (1 MiB / 60 s: the CLI refuses intervals below 60 s, so each test waits a minute), and
/// one object under YYYY/MM/dd/HH/ whose content is the records. Once against the S3 server, once against the local folder.
/// </summary>
public sealed class SourceStreamCliTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Records_put_into_a_source_stream_land_in_one_object_under_the_hour_prefix(bool s3)
    {
        using var data = new TempDirectory("firehose-cli");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3);
        var stream = FirehoseHost.NewName("src");
        var hose = FirehoseHost.NewName("hose");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);

        await host.CliAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1");
        var created = await host.CliAsync("firehose", "create-delivery-stream", "--delivery-stream-name", hose,
            "--delivery-stream-type", "KinesisStreamAsSource",
            "--kinesis-stream-source-configuration", $"KinesisStreamARN=arn:aws:kinesis:us-east-1:000000000000:stream/{stream},RoleARN=arn:aws:iam::000000000000:role/firehose",
            "--extended-s3-destination-configuration",
            $$$"""{"RoleARN":"arn:aws:iam::000000000000:role/firehose","BucketARN":"arn:aws:s3:::{{{bucket}}}","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":60}}""");
        Assert.Equal($"arn:aws:firehose:us-east-1:000000000000:deliverystream/{hose}", (string?)created!["DeliveryStreamARN"]);

        var before = DateTime.UtcNow;
        var lines = new[] { "alpha\n", "beta\n", "gamma\n" };
        foreach (var line in lines)
            await host.CliAsync("kinesis", "put-record", "--stream-name", stream, "--partition-key", "k", "--data", line, "--cli-binary-format", "raw-in-base64-out");

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1, TimeSpan.FromSeconds(180)));
        var after = DateTime.UtcNow;
        AssertHourPrefix(key, before, after);
        Assert.StartsWith(hose + "-1-", key[14..], StringComparison.Ordinal);
        Assert.Equal(string.Concat(lines), Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key)));

        var described = await host.CliAsync("firehose", "describe-delivery-stream", "--delivery-stream-name", hose);
        var d = described!["DeliveryStreamDescription"]!;
        Assert.Equal("ACTIVE", (string?)d["DeliveryStreamStatus"]);
        Assert.Equal("KinesisStreamAsSource", (string?)d["DeliveryStreamType"]);
        Assert.Equal("1", (string?)d["VersionId"]);
        Assert.Equal($"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}", (string?)d["Source"]!["KinesisStreamSourceDescription"]!["KinesisStreamARN"]);
        var destination = d["Destinations"]![0]!;
        Assert.Equal("destinationId-000000000001", (string?)destination["DestinationId"]);
        Assert.Equal(1, (int)destination["ExtendedS3DestinationDescription"]!["BufferingHints"]!["SizeInMBs"]!);
        Assert.Equal("UNCOMPRESSED", (string?)destination["S3DestinationDescription"]!["CompressionFormat"]);
        Assert.False((bool)d["HasMoreDestinations"]!);

        await host.CliAsync("firehose", "delete-delivery-stream", "--delivery-stream-name", hose);
        await host.CliAsync("kinesis", "delete-stream", "--stream-name", stream);
    }

    /// <summary>The key starts with YYYY/MM/dd/HH/ of an hour between the first put and the object's appearance.</summary>
    internal static void AssertHourPrefix(string key, DateTime before, DateTime after)
    {
        var prefix = key[..14];
        var hours = new[] { before, after }.Select(t => t.ToString("yyyy'/'MM'/'dd'/'HH'/'", CultureInfo.InvariantCulture));
        Assert.Contains(prefix, hours);
    }
}

/// <summary>The same walkthrough with Direct PUT (<c>aws firehose put-record-batch</c>); a class of its own so both run side by side.</summary>
public sealed class DirectPutCliTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Direct_put_batches_land_in_one_object_and_the_backing_stream_stays_hidden(bool s3)
    {
        using var data = new TempDirectory("firehose-cli");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3);
        var hose = FirehoseHost.NewName("direct");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.CliAsync("firehose", "create-delivery-stream", "--delivery-stream-name", hose,
            "--extended-s3-destination-configuration",
            $$$"""{"RoleARN":"arn:aws:iam::000000000000:role/firehose","BucketARN":"arn:aws:s3:::{{{bucket}}}","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":60}}""");

        var before = DateTime.UtcNow;
        var batch = await host.CliAsync("firehose", "put-record-batch", "--delivery-stream-name", hose, "--cli-binary-format", "raw-in-base64-out",
            "--records", """[{"Data":"one;"},{"Data":"two;"},{"Data":"three;"}]""");
        Assert.Equal(0, (int)batch!["FailedPutCount"]!);
        Assert.Equal(3, batch["RequestResponses"]!.AsArray().Count);
        Assert.All(batch["RequestResponses"]!.AsArray(), r => Assert.False(string.IsNullOrEmpty((string?)r!["RecordId"])));
        var single = await host.CliAsync("firehose", "put-record", "--delivery-stream-name", hose, "--cli-binary-format", "raw-in-base64-out", "--record", """{"Data":"four;"}""");
        Assert.False(string.IsNullOrEmpty((string?)single!["RecordId"]));

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1, TimeSpan.FromSeconds(180)));
        SourceStreamCliTests.AssertHourPrefix(key, before, DateTime.UtcNow);
        Assert.Equal("one;two;three;four;", Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key)));

        var listed = await host.CliAsync("firehose", "list-delivery-streams", "--delivery-stream-type", "DirectPut");
        Assert.Contains(listed!["DeliveryStreamNames"]!.AsArray(), n => (string?)n == hose);
        var streams = await host.CliAsync("kinesis", "list-streams");
        Assert.DoesNotContain(streams!["StreamNames"]!.AsArray(), n => ((string?)n)!.StartsWith("firehose:", StringComparison.Ordinal));

        await host.CliAsync("firehose", "delete-delivery-stream", "--delivery-stream-name", hose);
        var gone = await host.RunCliAsync("firehose", "describe-delivery-stream", "--delivery-stream-name", hose);
        Assert.Contains("(ResourceNotFoundException)", gone.StandardError, StringComparison.Ordinal);
    }
}
