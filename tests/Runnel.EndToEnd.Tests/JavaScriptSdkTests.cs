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
        Assert.True(NodeScripts.Installed("@aws-sdk/client-kinesis"), NodeScripts.NotInstalled);
        var result = await NodeScripts.RunAsync(script, endpoint, environment, TestContext.Current.CancellationToken);
        Assert.True(NodeScripts.Passed(result), result.Describe($"node --test {script}") + "\n" + diagnostics());
    }
}
