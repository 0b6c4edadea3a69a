using System.Net;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.ServiceDefaults.Tests;

public sealed class HealthEndpointTests(Dependencies dependencies) : IClassFixture<Dependencies>
{
    private static readonly string[] AllDependencies = ["metadata", "redis", "rabbitmq", "s3"];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(HttpStatusCode Status, string Overall, Dictionary<string, string> Checks, string Body)> ReadyAsync(TestHost host)
    {
        using var response = await host.Client.GetAsync("/health/ready", Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        using var json = JsonDocument.Parse(body);
        var checks = json.RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString()!);
        return (response.StatusCode, json.RootElement.GetProperty("status").GetString()!, checks, body);
    }

    /// <summary>
    /// Readiness once every check but <paramref name="broken"/> reports Healthy, or the last answer after 30 s. A
    /// reachable dependency's first check can time out while a cold process opens its first connection on a busy
    /// machine; probes repeat, so the steady answer is the one that counts.
    /// </summary>
    private static async Task<(HttpStatusCode Status, string Overall, Dictionary<string, string> Checks, string Body)> SettledReadyAsync(TestHost host, string? broken = null)
    {
        var last = await ReadyAsync(host);
        try
        {
            await Wait.UntilAsync(async () =>
            {
                last = await ReadyAsync(host);
                return last.Checks.Where(c => c.Key != broken).All(c => c.Value == "Healthy");
            }, TimeSpan.FromSeconds(30), "the reachable dependencies to report Healthy", poll: TimeSpan.FromMilliseconds(250), cancellationToken: Ct);
        }
        catch (TimeoutException)
        {
            // The assertions on the last answer report what stayed unhealthy.
        }
        return last;
    }

    [Fact]
    public async Task Live_is_200_without_any_dependency()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>());
        using var response = await host.Client.GetAsync("/health/live", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"Healthy\"", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Ready_is_healthy_with_every_real_dependency()
    {
        await using var host = await TestHost.StartAsync(dependencies.Configuration);
        var (status, overall, checks, body) = await SettledReadyAsync(host);
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal("Healthy", overall);
        foreach (var name in AllDependencies)
        {
            Assert.True(checks.TryGetValue(name, out var state) && state == "Healthy", $"{name}: {body}");
        }
        Assert.DoesNotContain("self", checks.Keys);
    }

    [Fact]
    public async Task Ready_lists_only_configured_dependencies()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = dependencies.Configuration["ConnectionStrings:Redis"],
        });
        var (status, _, checks, body) = await ReadyAsync(host);
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Equal(["redis"], checks.Keys);
    }

    [Theory]
    [InlineData("metadata")]
    [InlineData("redis")]
    [InlineData("rabbitmq")]
    [InlineData("s3")]
    public async Task Ready_is_503_when_one_dependency_is_unreachable_while_live_stays_200(string broken)
    {
        await using var host = await TestHost.StartAsync(dependencies.WithClosedPort(broken));
        var (status, overall, checks, body) = await SettledReadyAsync(host, broken);
        Assert.True(status == HttpStatusCode.ServiceUnavailable, body);
        Assert.Equal("Unhealthy", overall);
        Assert.Equal("Unhealthy", checks[broken]);
        foreach (var other in AllDependencies.Where(d => d != broken))
        {
            Assert.True(checks[other] == "Healthy", $"{other}: {body}");
        }

        using var live = await host.Client.GetAsync("/health/live", Ct);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Ready_is_503_when_the_configured_bucket_is_missing()
    {
        var config = new Dictionary<string, string?>(dependencies.Configuration)
        {
            ["S3:Bucket"] = $"runnel-missing-{Guid.NewGuid().ToString("N")[..12]}",
        };
        await using var host = await TestHost.StartAsync(config);
        var (status, _, checks, body) = await ReadyAsync(host);
        Assert.True(status == HttpStatusCode.ServiceUnavailable, body);
        Assert.Equal("Unhealthy", checks["s3"]);
        Assert.Contains("does not exist", body);
    }

    [Fact]
    public async Task Ready_stays_healthy_across_repeated_probes()
    {
        // Redis and RabbitMQ checks keep their connection between probes; reuse must not break them.
        await using var host = await TestHost.StartAsync(dependencies.Configuration);
        for (var i = 0; i < 3; i++)
        {
            var (status, _, _, body) = await ReadyAsync(host);
            Assert.True(status == HttpStatusCode.OK, body);
        }
    }
}
