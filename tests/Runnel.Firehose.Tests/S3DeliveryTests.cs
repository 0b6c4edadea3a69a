using System.IO.Compression;
using System.Text;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>Delivery against the S3 server on loopback: exact keys, size and interval flushes, GZIP.</summary>
public sealed class S3DeliveryTests
{
    private static object Destination(string bucket, int size, int interval, string? prefix = null, string? errorPrefix = null, string compression = "UNCOMPRESSED") => new
    {
        RoleARN = "arn:aws:iam::000000000000:role/firehose",
        BucketARN = $"arn:aws:s3:::{bucket}",
        Prefix = prefix,
        ErrorOutputPrefix = errorPrefix,
        CompressionFormat = compression,
        BufferingHints = new { SizeInMBs = size, IntervalInSeconds = interval },
    };

    private static async Task PutBatchAsync(FirehoseHost host, string hose, IEnumerable<byte[]> records)
    {
        var answer = await host.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = records.Select(r => new { Data = r }).ToArray() });
        Assert.Equal(0, answer.GetProperty("FailedPutCount").GetInt32());
    }

    [Fact]
    public async Task Custom_prefix_expressions_make_the_exact_key_and_gzip_objects_decompress_to_the_records()
    {
        using var data = new TempDirectory("firehose-s3");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("keys");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.FirehoseAsync("CreateDeliveryStream", new
        {
            DeliveryStreamName = hose,
            ExtendedS3DestinationConfiguration = Destination(bucket, 1, 1,
                "logs/year=!{timestamp:yyyy}/month=!{timestamp:MM}/r=!{firehose:random-string}/",
                "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/", "GZIP"),
        });
        var before = DateTime.UtcNow;
        var records = Enumerable.Range(0, 20).Select(i => Encoding.UTF8.GetBytes($"{{\"n\":{i}}}\n")).ToList();
        await PutBatchAsync(host, hose, records);

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        var after = DateTime.UtcNow;
        var years = new[] { before, after }.Select(t => $"logs/year={t:yyyy}/month={t:MM}/r=").ToList();
        Assert.Contains(key[..years[0].Length], years);
        var rest = key[years[0].Length..];
        // An 11-character random string, then the object name: stream, destination version, time, id, extension.
        Assert.Matches(@"^[0-9a-z]{11}/" + hose + @"-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.gz$", rest);
        using var gzip = new GZipStream(new MemoryStream(await host.Buckets.ReadAsync(bucket, key)), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        await gzip.CopyToAsync(plain, TestContext.Current.CancellationToken);
        Assert.Equal(records.SelectMany(r => r).ToArray(), plain.ToArray());
    }

    [Fact]
    public async Task A_full_buffer_is_written_before_the_interval_and_the_rest_when_the_interval_ends()
    {
        using var data = new TempDirectory("firehose-s3");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("flush");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        // 1 MiB or 900 s: only the size can flush within the test's wait.
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = hose, ExtendedS3DestinationConfiguration = Destination(bucket, 1, 900) });
        var records = Enumerable.Range(0, 5).Select(_ => FirehoseHost.Random(300 * 1024)).ToList();
        await PutBatchAsync(host, hose, records);
        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        // The object closes with the record that filled the buffer: 4 x 300 KiB >= 1 MiB; the fifth waits.
        Assert.Equal(records.Take(4).SelectMany(r => r).ToArray(), await host.Buckets.ReadAsync(bucket, key));
        Assert.Single(await host.Buckets.KeysAsync(bucket));

        var timed = FirehoseHost.NewName("interval");
        var other = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(other);
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = timed, ExtendedS3DestinationConfiguration = Destination(other, 128, 1) });
        await PutBatchAsync(host, timed, [Encoding.UTF8.GetBytes("small")]);
        var small = Assert.Single(await host.WaitForObjectsAsync(other, 1));
        Assert.Equal("small", Encoding.UTF8.GetString(await host.Buckets.ReadAsync(other, small)));
    }

    [Fact]
    public async Task An_update_changes_the_prefix_and_bumps_the_version_in_new_object_names()
    {
        using var data = new TempDirectory("firehose-s3");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("update");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);
        await host.FirehoseAsync("CreateDeliveryStream", new { DeliveryStreamName = hose, ExtendedS3DestinationConfiguration = Destination(bucket, 1, 1, "plain/") });
        await PutBatchAsync(host, hose, [Encoding.UTF8.GetBytes("v1")]);
        var first = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        Assert.Matches(@"^plain/\d{4}/\d{2}/\d{2}/\d{2}/" + hose + "-1-", first);

        var stale = await host.CallAsync("Firehose_20150804.UpdateDestination", new
        {
            DeliveryStreamName = hose, CurrentDeliveryStreamVersionId = "7", DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { Prefix = "other/" },
        });
        Assert.Equal("ConcurrentModificationException", stale.ErrorType);
        await host.FirehoseAsync("UpdateDestination", new
        {
            DeliveryStreamName = hose, CurrentDeliveryStreamVersionId = "1", DestinationId = "destinationId-000000000001",
            ExtendedS3DestinationUpdate = new { Prefix = "other/" },
        });
        var d = (await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose })).GetProperty("DeliveryStreamDescription");
        Assert.Equal("2", d.GetProperty("VersionId").GetString());
        Assert.Equal("other/", d.GetProperty("Destinations")[0].GetProperty("ExtendedS3DestinationDescription").GetProperty("Prefix").GetString());

        await PutBatchAsync(host, hose, [Encoding.UTF8.GetBytes("v2")]);
        var keys = await host.WaitForObjectsAsync(bucket, 2);
        var second = Assert.Single(keys, k => k != first);
        Assert.Matches(@"^other/\d{4}/\d{2}/\d{2}/\d{2}/" + hose + "-2-", second);
        Assert.Equal("v2", Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, second)));
    }
}
