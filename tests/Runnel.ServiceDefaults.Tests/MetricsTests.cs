using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Runnel.TestKit;

namespace Runnel.ServiceDefaults.Tests;

public sealed class MetricsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Metrics_serve_prometheus_text_with_runnel_meters()
    {
        await using var host = await TestHost.StartAsync(
            new Dictionary<string, string?> { ["Runnel:NodeName"] = "metrics-node" },
            map: app => app.MapGet("/ping", () => "pong"));

        // Any meter named Runnel.* is exported without being listed anywhere.
        using var meter = new Meter("Runnel.Tests.Metrics");
        var counter = meter.CreateCounter<long>("runnel.tests.records", unit: "{record}");
        counter.Add(7, new KeyValuePair<string, object?>("stream", "s1"));
        using var ignored = new Meter("Other.Tests.Metrics");
        ignored.CreateCounter<long>("other.tests.records").Add(1);

        Assert.Equal("pong", await host.Client.GetStringAsync("/ping", Ct));

        // Server request metrics are recorded after the response completes, so poll for them.
        var text = "";
        await Wait.UntilAsync(async () =>
        {
            using var response = await host.Client.GetAsync("/metrics", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            text = await response.Content.ReadAsStringAsync(Ct);
            return text.Contains("http_route=\"/ping\"", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(15), "the /ping request in /metrics", cancellationToken: Ct);
        Assert.Contains("# TYPE runnel_build_info gauge", text);
        Assert.Contains("node=\"metrics-node\"", text);
        Assert.Matches(@"runnel_tests_records(_total)?\{[^}]*stream=""s1""[^}]*\} 7", text);
        Assert.DoesNotContain("other_tests_records", text);
        Assert.Contains("http_server_request_duration_seconds", text);
        // The probe and scrape endpoints stay out of the request metrics.
        Assert.DoesNotMatch(@"http_server_request_duration_seconds_count\{[^}]*http_route=""/(metrics|health)", text);
        Assert.Matches(@"http_server_request_duration_seconds_count\{[^}]*http_route=""/ping""", text);
    }
}
