using Runnel.EndToEnd.Tests.Cluster;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// The AWS SDK for JavaScript v3 (tests/js, installed with <c>npm ci</c>) against the cluster: its
/// default handler speaks HTTP/2 with prior knowledge on http://, the other half of the one-port rule.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class JavaScriptSdkTests(ClusterFixture fixture)
{
    [Fact]
    public Task Sdk_v3_creates_puts_iterates_reads_lists_tags_and_deletes() =>
        RunAsync(fixture.Cluster.Endpoint, fixture.Cluster.Describe);

    /// <summary>
    /// Runs a tests/js script (kinesis.test.mjs by default) against <paramref name="endpoint"/>, with more environment
    /// variables when given; a failure carries the script's output.
    /// </summary>
    internal static async Task RunAsync(Uri endpoint, Func<string> diagnostics, string script = "kinesis.test.mjs",
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var directory = Path.Combine(RepositoryPaths.Root, "tests", "js");
        Assert.True(Directory.Exists(Path.Combine(directory, "node_modules", "@aws-sdk", "client-kinesis")),
            $"The JavaScript SDK is not installed: run `npm ci` in {directory} (.ci/run does).");

        var result = await ExternalCommand.RunAsync(
            "node", ["--test", "--test-reporter=spec", script],
            TimeSpan.FromMinutes(3),
            new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>())
            {
                ["RUNNEL_ENDPOINT"] = endpoint.ToString().TrimEnd('/'),
                ["NO_COLOR"] = "1",
            },
            directory,
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(result.Succeeded, result.Describe($"node --test {script}") + "\n" + diagnostics());
        Assert.Contains("fail 0", result.StandardOutput, StringComparison.Ordinal);
    }
}
