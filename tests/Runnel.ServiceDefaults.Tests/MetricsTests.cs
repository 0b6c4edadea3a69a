using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
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
        // Per-rent and per-match bookkeeping of Kestrel's buffer pool and of routing is not collected.
        Assert.DoesNotContain("aspnetcore_memory_pool_", text);
        Assert.DoesNotContain("aspnetcore_routing_match_attempts", text);
    }

    /// <summary>
    /// The hosting layer starts an Activity for every request while its log category is enabled at any level, at a few
    /// percent of a small request's CPU. A request has one only with tracing configured or when the configuration asks
    /// for the hosting layer's request lines (Information).
    /// </summary>
    [Theory]
    [InlineData(false, null, false)]
    [InlineData(false, "Warning", false)]
    [InlineData(true, null, true)]
    [InlineData(false, "Information", true)]
    public async Task A_request_has_an_activity_only_with_tracing_or_request_logs(bool tracing, string? aspNetCoreLevel, bool expected)
    {
        var configuration = new Dictionary<string, string?> { ["Runnel:NodeName"] = "activity-node" };
        if (tracing)
            configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9";
        if (aspNetCoreLevel is not null)
            configuration["Logging:LogLevel:Microsoft.AspNetCore"] = aspNetCoreLevel;
        await using var host = await TestHost.StartAsync(configuration,
            map: app => app.MapGet("/activity", () => Activity.Current is null ? "none" : "started"));

        Assert.Equal(expected ? "started" : "none", await host.Client.GetStringAsync("/activity", Ct));
    }

    /// <summary>
    /// Tests and tools run several hosts in one process, and OpenTelemetry's listener is process-wide: a host that
    /// stops before anything was scraped must not take the same-named series of a host still running with it.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Stopping_one_host_keeps_the_same_named_series_of_another(bool stoppedHostMeasuresFirst)
    {
        var meterName = $"Runnel.Tests.Shared{stoppedHostMeasuresFirst}";
        await using var survivor = await TestHost.StartAsync(new Dictionary<string, string?> { ["Runnel:NodeName"] = "survivor" });
        var stopped = await TestHost.StartAsync(new Dictionary<string, string?> { ["Runnel:NodeName"] = "stopped" });
        Counter<long> CounterOf(TestHost host) =>
            host.App.Services.GetRequiredService<IMeterFactory>().Create(meterName).CreateCounter<long>("runnel.tests.shared", unit: "{record}");

        Counter<long> kept;
        if (stoppedHostMeasuresFirst)
        {
            CounterOf(stopped).Add(1, new KeyValuePair<string, object?>("host", "stopped"));
            kept = CounterOf(survivor);
        }
        else
        {
            kept = CounterOf(survivor);
            CounterOf(stopped).Add(1, new KeyValuePair<string, object?>("host", "stopped"));
        }
        kept.Add(1, new KeyValuePair<string, object?>("host", "survivor"));
        await stopped.DisposeAsync();
        // A collection after the stop is where a retired stream would be dropped; measurements after it must count.
        await survivor.Client.GetStringAsync("/metrics", Ct);
        kept.Add(4, new KeyValuePair<string, object?>("host", "survivor"));

        var text = "";
        try
        {
            await Wait.UntilAsync(async () =>
            {
                text = await survivor.Client.GetStringAsync("/metrics", Ct);
                return System.Text.RegularExpressions.Regex.IsMatch(text, """runnel_tests_shared_total\{[^}]*host="survivor"[^}]*\} 5(\s|$)""",
                    System.Text.RegularExpressions.RegexOptions.Multiline);
            }, TimeSpan.FromSeconds(10), "the survivor's series at 5", cancellationToken: Ct);
        }
        catch (TimeoutException)
        {
            Assert.Fail("The survivor's series is not at 5:\n" + string.Join('\n', text.Split('\n').Where(l => l.Contains("shared", StringComparison.Ordinal))));
        }
    }
}
