using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Standalone as a newcomer runs it (its own process, its own data folder, SQLite metadata), used
/// by the same real clients as the cluster: what the README's two commands promise.
/// </summary>
public sealed class StandaloneFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = new("standalone");
    private ProcessHost? _host;

    public ProcessHost Host => _host ?? throw new InvalidOperationException("Standalone did not start.");

    public Uri Endpoint => Host.BaseAddress;

    public async ValueTask InitializeAsync()
    {
        var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
        _host = await ProcessHost.StartAsync(new ProcessHostOptions(
            "standalone", RepositoryPaths.ServiceAssembly("Runnel.Standalone"), address,
            [$"--urls={address}", $"--Runnel:DataDirectory={_data.Path}"])
        {
            WorkingDirectory = _data.Path,
            Environment = new Dictionary<string, string?> { ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning" },
        }, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        _data.Dispose();
    }
}

public sealed class StandaloneTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    [Fact]
    public async Task Prints_where_it_listens_and_that_authentication_is_off_on_loopback()
    {
        await Wait.UntilAsync(() => fixture.Host.Output.Contains($"Runnel Standalone listening on {fixture.Endpoint.ToString().TrimEnd('/')}", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the listening line", cancellationToken: TestContext.Current.CancellationToken);
        await Wait.UntilAsync(() => fixture.Host.Output.Contains("Authentication is off (Security:Authentication=None): allowed because Runnel listens on loopback only.", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the line saying authentication is off on loopback", cancellationToken: TestContext.Current.CancellationToken);
    }

    [Fact]
    public Task Aws_cli_lecture_notes_session() => AwsCliTests.LectureNotesSessionAsync(fixture.Endpoint);

    [Fact]
    public Task Aws_sdk_for_javascript_v3() => JavaScriptSdkTests.RunAsync(fixture.Endpoint, () => fixture.Host.Output);

    /// <summary>tests/js/fanout.test.mjs: consumers, SubscribeToShard from every starting position, two consumers, ResourceInUse.</summary>
    [Fact]
    public Task Aws_sdk_for_javascript_v3_enhanced_fan_out() =>
        JavaScriptSdkTests.RunAsync(fixture.Endpoint, () => fixture.Host.Output, "fanout.test.mjs");
}
