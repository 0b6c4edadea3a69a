using System.Text;
using Runnel.TestKit;

namespace Runnel.Firehose.Tests;

/// <summary>
/// The AWS SDK for JavaScript v3 Firehose client (tests/js/firehose.test.mjs, installed with <c>npm ci</c>) against
/// Standalone: the script creates a Direct PUT delivery stream and puts four records; the test reads the delivered object.
/// </summary>
public sealed class JavaScriptSdkTests
{
    [Fact]
    public async Task Sdk_v3_creates_describes_puts_and_lists_and_the_records_are_delivered()
    {
        Assert.True(NodeScripts.Installed("@aws-sdk/client-firehose"), NodeScripts.NotInstalled);
        using var data = new TempDirectory("firehose-js");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("js");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);

        var result = await NodeScripts.RunAsync("firehose.test.mjs", host.Address,
            new Dictionary<string, string?> { ["FIREHOSE_NAME"] = hose, ["FIREHOSE_BUCKET"] = bucket },
            TestContext.Current.CancellationToken);
        Assert.True(NodeScripts.Passed(result), result.Describe("node --test firehose.test.mjs"));

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1, TimeSpan.FromSeconds(180)));
        Assert.StartsWith("js/", key, StringComparison.Ordinal);
        Assert.Equal("one;two;three;four;", Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key)));
        await host.FirehoseAsync("DeleteDeliveryStream", new { DeliveryStreamName = hose });
    }
}
