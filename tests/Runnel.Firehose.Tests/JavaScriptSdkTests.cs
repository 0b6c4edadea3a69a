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
        var directory = Path.Combine(RepositoryPaths.Root, "tests", "js");
        Assert.True(Directory.Exists(Path.Combine(directory, "node_modules", "@aws-sdk", "client-firehose")),
            $"The JavaScript SDK is not installed: run `npm ci` in {directory} (.ci/run does).");
        using var data = new TempDirectory("firehose-js");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("js");
        var bucket = FirehoseHost.NewBucket();
        await host.Buckets.CreateAsync(bucket);

        var result = await ExternalCommand.RunAsync(
            "node", ["--test", "--test-reporter=spec", "firehose.test.mjs"],
            TimeSpan.FromMinutes(3),
            new Dictionary<string, string?>
            {
                ["RUNNEL_ENDPOINT"] = host.Address.ToString().TrimEnd('/'),
                ["FIREHOSE_NAME"] = hose,
                ["FIREHOSE_BUCKET"] = bucket,
                ["NO_COLOR"] = "1",
            },
            directory,
            cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(result.Succeeded, result.Describe("node --test firehose.test.mjs"));
        Assert.Contains("fail 0", result.StandardOutput, StringComparison.Ordinal);

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1, TimeSpan.FromSeconds(180)));
        Assert.StartsWith("js/", key, StringComparison.Ordinal);
        Assert.Equal("one;two;three;four;", Encoding.UTF8.GetString(await host.Buckets.ReadAsync(bucket, key)));
        await host.FirehoseAsync("DeleteDeliveryStream", new { DeliveryStreamName = hose });
    }
}
