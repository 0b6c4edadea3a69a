using System.Net;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.ServiceDefaults.Tests;

/// <summary>The FanOut, Firehose and Analytics hosts start as their own processes and serve health, metrics and status.</summary>
public sealed class SkeletonHostTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("Runnel.FanOut", "fanout", "/v1/fanout/kinesis")]
    [InlineData("Runnel.Firehose", "firehose", "/v1/firehose/aws")]
    [InlineData("Runnel.Analytics", "analytics", "/v1/analytics/aws")]
    public async Task Host_starts_and_serves_status_health_and_metrics(string assembly, string route, string forwardingRoute)
    {
        var ports = FreePorts.Get(2);
        var baseAddress = new Uri($"http://127.0.0.1:{ports[0]}/");
        // Every host checks the metadata store for readiness, and FanOut keeps its consumer registry there.
        await using var metadata = await PostgresDatabase.CreateAsync(route, Ct);
        await using var host = await ProcessHost.StartAsync(new ProcessHostOptions(
            route,
            RepositoryPaths.ServiceAssembly(assembly),
            baseAddress,
            [$"--urls={baseAddress}", $"--Runnel:NodeName={route}-test-0", .. InternalListener.Arguments(new Uri($"http://127.0.0.1:{ports[1]}")),
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

        // The gateway's forwarding route trusts the principal it is given: absent on the public port, and on the
        // internal port refused without the token.
        var internalAddress = new Uri($"http://127.0.0.1:{ports[1]}/");
        Assert.Equal(HttpStatusCode.NotFound, await PostAsync(http, new Uri(baseAddress, forwardingRoute), InternalListener.Token));
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(http, new Uri(internalAddress, forwardingRoute), null));
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(http, new Uri(internalAddress, forwardingRoute), "wrong"));
        Assert.Equal(HttpStatusCode.Forbidden, await PostAsync(http, new Uri(internalAddress, "metrics"), null));
        // With the token the route answers (an AWS error for the empty request, not a refusal).
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(http, new Uri(internalAddress, forwardingRoute), InternalListener.Token));
    }

    [Fact]
    public async Task A_deployed_host_refuses_to_start_without_the_internal_token()
    {
        var ports = FreePorts.Get(2);
        var baseAddress = new Uri($"http://127.0.0.1:{ports[0]}/");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ProcessHost.StartAsync(new ProcessHostOptions(
            "firehose-no-token",
            RepositoryPaths.ServiceAssembly("Runnel.Firehose"),
            baseAddress,
            [$"--urls={baseAddress}", $"--Runnel:Internal:Urls=http://127.0.0.1:{ports[1]}"]) { ReadyTimeout = TimeSpan.FromSeconds(30) }, Ct));
        Assert.Contains("Runnel:Internal:Token", error.Message);
    }

    private static async Task<HttpStatusCode> PostAsync(HttpClient http, Uri uri, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent("{}"u8.ToArray()) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-amz-json-1.1");
        request.Headers.Add("X-Amz-Target", "Nope.Unknown");
        if (token is not null)
            request.Headers.Add(InternalListener.TokenHeader, token);
        using var response = await http.SendAsync(request, Ct);
        return response.StatusCode;
    }

    [Fact]
    public async Task Invalid_module_options_stop_the_host_at_start()
    {
        var ports = FreePorts.Get(2);
        var baseAddress = new Uri($"http://127.0.0.1:{ports[0]}/");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ProcessHost.StartAsync(new ProcessHostOptions(
            "firehose-bad",
            RepositoryPaths.ServiceAssembly("Runnel.Firehose"),
            baseAddress,
            [$"--urls={baseAddress}", "--Firehose:LeaseSeconds=0", .. InternalListener.Arguments(new Uri($"http://127.0.0.1:{ports[1]}"))]) { ReadyTimeout = TimeSpan.FromSeconds(30) }, Ct));
        Assert.Contains("LeaseSeconds", error.Message);
    }
}
