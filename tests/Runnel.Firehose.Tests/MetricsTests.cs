using System.Globalization;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>The CloudWatch-named delivery stream metrics on the Prometheus endpoint, per delivery stream.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task Direct_put_and_delivery_are_counted_under_CloudWatch_names()
    {
        using var data = new TempDirectory("firehose-metrics");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("metrics");
        var bucket = FirehoseHost.NewBucket();
        await host.CreateS3DeliveryStreamAsync(hose, bucket, sizeInMBs: 1, intervalInSeconds: 0);
        await Wait.UntilAsync(async () => (await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose }))
                .GetProperty("DeliveryStreamDescription").GetProperty("DeliveryStreamStatus").GetString() == "ACTIVE",
            TimeSpan.FromSeconds(60), "the delivery stream ACTIVE", TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);

        // 3 records of 10 bytes in one call, 1 of 5 bytes in another: 4 records, 35 bytes, 2 calls.
        await host.FirehoseAsync("PutRecordBatch", new
        {
            DeliveryStreamName = hose,
            Records = new[] { "aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc" }.Select(t => new { Data = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(t)) }),
        });
        await host.FirehoseAsync("PutRecord", new { DeliveryStreamName = hose, Record = new { Data = Convert.ToBase64String("ddddd"u8.ToArray()) } });

        var scrape = "";
        await Wait.UntilAsync(async () =>
            {
                scrape = await host.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
                return Value(scrape, "DeliveryToS3_Records_total", hose) == 4;
            },
            TimeSpan.FromSeconds(120), "4 delivered records in the metrics", TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken);

        var keys = await host.Buckets.KeysAsync(bucket);
        long objectBytes = 0;
        foreach (var key in keys)
            objectBytes += (await host.Buckets.ReadAsync(bucket, key)).Length;
        Assert.Equal(4, Value(scrape, "IncomingRecords_total", hose));
        Assert.Equal(35, Value(scrape, "IncomingBytes_bytes_total", hose) ?? Value(scrape, "IncomingBytes_total", hose));
        Assert.Equal(2, Value(scrape, "IncomingPutRequests_total", hose));
        Assert.Equal(35, objectBytes);
        Assert.Equal(objectBytes, Value(scrape, "DeliveryToS3_Bytes_bytes_total", hose) ?? Value(scrape, "DeliveryToS3_Bytes_total", hose));
        Assert.Equal(keys.Count, Value(scrape, "DeliveryToS3_Success_total", hose));
        Assert.True((Value(scrape, "DeliveryToS3_DataFreshness_seconds", hose) ?? Value(scrape, "DeliveryToS3_DataFreshness", hose)) is >= 0,
            "DataFreshness is missing:\n" + scrape);
    }

    /// <summary>The value of <paramref name="metric"/> for the delivery stream, or null when the scrape has no such series.</summary>
    internal static long? Value(string scrape, string metric, string hose)
    {
        var line = scrape.Split('\n').FirstOrDefault(l => l.StartsWith(metric + "{", StringComparison.Ordinal)
            && l.Contains($"delivery_stream=\"{hose}\"", StringComparison.Ordinal));
        return line is null ? null : (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }
}
