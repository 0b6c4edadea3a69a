using System.Net;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.ServiceDefaults.Tests;

/// <summary>The FanOut, Firehose and Analytics hosts start as their own processes and serve health, metrics and status.</summary>
public sealed class SkeletonHostTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("Runnel.FanOut", "fanout")]
    [InlineData("Runnel.Firehose", "firehose")]
    [InlineData("Runnel.Analytics", "analytics")]
    public async Task Host_starts_and_serves_status_health_and_metrics(string assembly, string route)
    {
        var port = FreePorts.Get();
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        // Every host checks the metadata store for readiness, and FanOut keeps its consumer registry there.
        await using var metadata = await PostgresDatabase.CreateAsync(route, Ct);
        await using var host = await ProcessHost.StartAsync(new ProcessHostOptions(
            route,
            RepositoryPaths.ServiceAssembly(assembly),
            baseAddress,
            [$"--urls={baseAddress}", $"--Runnel:NodeName={route}-test-0",
             "--Metadata:Provider=Postgres", $"--ConnectionStrings:Metadata={metadata.ConnectionString}"]), Ct);

        using var http = new HttpClient { BaseAddress = baseAddress };
        using var status = await http.GetAsync($"v1/{route}/status", Ct);
        var body = await status.Content.ReadAsStringAsync(Ct);
        Assert.True(status.StatusCode == HttpStatusCode.OK, body + "\n" + host.Output);
        using var json = JsonDocument.Parse(body);
        Assert.Equal(route, json.RootElement.GetProperty("service").GetString());
        Assert.Equal($"{route}-test-0", json.RootElement.GetProperty("node").GetString());
        Assert.False(json.RootElement.GetProperty("daprEnabled").GetBoolean());
        Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("version").GetString()));

        using var live = await http.GetAsync("health/live", Ct);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        var metrics = await http.GetStringAsync("metrics", Ct);
        Assert.Contains($"node=\"{route}-test-0\"", metrics);
    }

    [Fact]
    public async Task Invalid_module_options_stop_the_host_at_start()
    {
        var port = FreePorts.Get();
        var baseAddress = new Uri($"http://127.0.0.1:{port}/");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ProcessHost.StartAsync(new ProcessHostOptions(
            "firehose-bad",
            RepositoryPaths.ServiceAssembly("Runnel.Firehose"),
            baseAddress,
            [$"--urls={baseAddress}", "--Firehose:LeaseSeconds=0"]) { ReadyTimeout = TimeSpan.FromSeconds(30) }, Ct));
        Assert.Contains("LeaseSeconds", error.Message);
    }
}
