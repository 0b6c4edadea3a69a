using System.Net;
using System.Text;
using System.Text.Json;
using Runnel.ServiceDefaults.Outbound;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Hardening.Tests;

/// <summary>Event source mappings call only hosts the operator allows: never the cluster's own addresses by default.</summary>
public sealed class DestinationTests
{
    [Theory]
    [InlineData("http://127.0.0.1:9/fn")]
    [InlineData("http://localhost:9/fn")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://10.0.0.5/fn")]
    [InlineData("http://172.20.1.1/fn")]
    [InlineData("http://192.168.1.10/fn")]
    [InlineData("http://100.64.0.1/fn")]
    [InlineData("http://[::1]:9/fn")]
    [InlineData("http://[fd00::1]/fn")]
    [InlineData("http://[::ffff:10.0.0.1]/fn")]
    [InlineData("http://0.0.0.0:9/fn")]
    public async Task Internal_addresses_are_refused_with_Lambdas_error_unless_listed(string function)
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("runnel-ssrf");
        await using var host = await StartedStandalone.StartAsync(
            ["--urls=http://127.0.0.1:0", $"--Runnel:DataDirectory={data.Path}", "--Logging:LogLevel:Default=Warning"], cancellationToken: ct);
        using var http = new HttpClient { BaseAddress = host.Address };
        var stream = "ssrf";
        using (var create = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("""{"StreamName":"ssrf","ShardCount":1}""", Encoding.UTF8) })
        {
            create.Content.Headers.ContentType = new("application/x-amz-json-1.1");
            create.Headers.Add("X-Amz-Target", "Kinesis_20131202.CreateStream");
            using var created = await http.SendAsync(create, ct);
            Assert.True(created.IsSuccessStatusCode);
        }
        var body = JsonSerializer.Serialize(new { EventSourceArn = $"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}", FunctionName = function, StartingPosition = "LATEST" });
        using var response = await http.PostAsync("/2015-03-31/event-source-mappings/", new StringContent(body, Encoding.UTF8, "application/json"), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Equal("InvalidParameterValueException", response.Headers.GetValues("x-amzn-ErrorType").Single());
        Assert.Contains("FanOut:Mappings:AllowedHosts", text);
    }

    [Fact]
    public async Task A_listed_host_is_allowed_and_an_allow_list_excludes_every_other_host()
    {
        var ct = TestContext.Current.CancellationToken;
        var open = new DestinationPolicy([]);
        Assert.NotNull(await open.RefusalAsync(new Uri("http://127.0.0.1/fn"), ct));
        Assert.Null(await open.RefusalAsync(new Uri("http://93.184.216.34/fn"), ct));

        var listed = new DestinationPolicy(["127.0.0.1", "*.functions.example"]);
        Assert.Null(await listed.RefusalAsync(new Uri("http://127.0.0.1:8080/fn"), ct));
        Assert.Null(await listed.RefusalAsync(new Uri("https://a.functions.example/fn"), ct));
        Assert.NotNull(await listed.RefusalAsync(new Uri("http://93.184.216.34/fn"), ct));
        Assert.NotNull(await listed.RefusalAsync(new Uri("http://functions.example.evil/fn"), ct));
    }

    [Fact]
    public async Task Delivery_connections_to_internal_addresses_are_refused_when_they_are_made()
    {
        // A name that resolved outward when the mapping was created may resolve inward later: the connection is checked.
        var ct = TestContext.Current.CancellationToken;
        using var receiver = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        receiver.Start();
        var port = ((IPEndPoint)receiver.LocalEndpoint).Port;
        using var refused = new HttpClient(new SocketsHttpHandler { ConnectCallback = new DestinationPolicy([]).ConnectAsync });
        await Assert.ThrowsAsync<HttpRequestException>(() => refused.GetAsync($"http://localhost:{port}/", ct));
        using var allowed = new HttpClient(new SocketsHttpHandler { ConnectCallback = new DestinationPolicy(["localhost"]).ConnectAsync }) { Timeout = TimeSpan.FromSeconds(2) };
        var call = allowed.GetAsync($"http://localhost:{port}/", ct);
        using var accepted = await receiver.AcceptTcpClientAsync(ct);
        Assert.True(accepted.Connected);
        await Assert.ThrowsAnyAsync<Exception>(() => call);
    }
}
