using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.ServiceDefaults.Tests;

public sealed class DaprTests
{
    private static ServiceInvocation Invocation(bool enabled, string endpoint = "http://127.0.0.1:3500") =>
        new(Options.Create(new DaprOptions { Enabled = enabled, HttpEndpoint = endpoint }));

    [Fact]
    public void Disabled_calls_go_straight_to_the_peer()
    {
        Assert.Equal(new Uri("http://shardstore-1:4710/"), Invocation(false).BaseAddressFor("shardstore-1", "http://shardstore-1:4710"));
        Assert.Equal(new Uri("http://10.0.0.7:4711/"), Invocation(false).BaseAddressFor("n", "http://10.0.0.7:4711/"));
    }

    [Fact]
    public void Enabled_calls_go_through_the_sidecar_invoke_route()
    {
        var baseAddress = Invocation(true).BaseAddressFor("shardstore-1", "http://shardstore-1:4710");
        Assert.Equal(new Uri("http://127.0.0.1:3500/v1.0/invoke/shardstore-1/method/"), baseAddress);
        Assert.Equal(new Uri("http://127.0.0.1:3500/v1.0/invoke/shardstore-1/method/v1/shards/append"), new Uri(baseAddress, "v1/shards/append"));
        Assert.Equal(new Uri("http://localhost:3600/v1.0/invoke/ingest/method/"), Invocation(true, "http://localhost:3600/").BaseAddressFor("ingest", "http://x"));
    }

    [Fact]
    public async Task Options_bind_from_configuration()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Dapr:Enabled"] = "true",
            ["Dapr:HttpEndpoint"] = "http://127.0.0.1:3501",
        });
        var invocation = host.App.Services.GetRequiredService<ServiceInvocation>();
        Assert.True(invocation.UsesDapr);
        Assert.Equal(new Uri("http://127.0.0.1:3501/v1.0/invoke/a/method/"), invocation.BaseAddressFor("a", "http://a"));
    }

    [Fact]
    public async Task An_invalid_sidecar_endpoint_stops_the_host_at_start()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Dapr:HttpEndpoint"] = "not a url",
        }));
        Assert.Contains("Dapr:HttpEndpoint", error.Message);
    }
}
