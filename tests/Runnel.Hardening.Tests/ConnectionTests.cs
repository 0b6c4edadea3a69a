using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Hardening.Tests;

/// <summary>Sockets that stay silent, too many sockets, and large bodies.</summary>
[Collection(HardeningCollection.Name)]
public sealed class ConnectionTests(HardeningFixture f)
{
    [Fact]
    public async Task A_silent_connection_is_closed_after_the_request_headers_timeout()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = new TcpClient();
        await client.ConnectAsync(f.Address.Host, f.Address.Port, ct);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // The fixture's timeout is 5 s; a connection open after 60 s was never going to be closed.
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        var buffer = new byte[64];
        int read;
        try
        {
            read = await client.GetStream().ReadAsync(buffer, deadline.Token);
        }
        catch (IOException)
        {
            read = 0;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException("The server kept a connection that sent nothing open for 60 s.");
        }
        Assert.Equal(0, read);
    }

    [Fact]
    public async Task Large_bodies_give_their_memory_back()
    {
        var ct = TestContext.Current.CancellationToken;
        // 20 MiB bodies of a record too large to store: each is read whole before it is refused.
        var body = new byte[20 * 1024 * 1024];
        Encoding.ASCII.GetBytes("""{"StreamName":"none","PartitionKey":"k","Data":""").CopyTo(body, 0);
        body.AsSpan(48, body.Length - 50).Fill((byte)'A');
        "\"}"u8.CopyTo(body.AsSpan(body.Length - 2));

        var before = Settled();
        for (var round = 0; round < 2; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
                request.Headers.Add("X-Amz-Target", "Kinesis_20131202.PutRecord");
                using var response = await f.Http.SendAsync(request, ct);
                Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode}");
            }));
        }
        var after = Settled();
        // Eight bodies in flight once pooled kept 8 x 32 MiB (the pool's size class above 20 MiB) after the load.
        Assert.True(after - before < 96L * 1024 * 1024, $"the heap grew by {(after - before) / (1024 * 1024)} MiB and kept it");
    }

    private static long Settled()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

/// <summary>A host of its own with a connection limit of 8.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task Connections_beyond_the_limit_are_closed_and_the_server_keeps_serving()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("runnel-limit");
        await using var host = await StartedStandalone.StartAsync(
        [
            "--urls=http://127.0.0.1:0", $"--Runnel:DataDirectory={data.Path}", "--Logging:LogLevel:Default=Warning",
            "--Connections:MaxConcurrentConnections=8",
        ], cancellationToken: ct);
        var request = Encoding.ASCII.GetBytes("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");

        async Task<(TcpClient Client, bool Served)> ConnectAsync()
        {
            var client = new TcpClient();
            await client.ConnectAsync(host.Address.Host, host.Address.Port, ct);
            var stream = client.GetStream();
            try
            {
                await stream.WriteAsync(request, ct);
                var buffer = new byte[1024];
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                deadline.CancelAfter(TimeSpan.FromSeconds(30));
                var read = await stream.ReadAsync(buffer, deadline.Token);
                return (client, read > 0 && Encoding.ASCII.GetString(buffer, 0, read).StartsWith("HTTP/1.1 200", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return (client, false);
            }
        }

        var held = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var (client, served) = await ConnectAsync();
                held.Add(client);
                Assert.True(served, $"connection {i + 1} of 8 was not served");
            }
            var (extra, extraServed) = await ConnectAsync();
            extra.Dispose();
            Assert.False(extraServed, "a ninth connection was served with a limit of 8");

            held[0].Dispose();
            held.RemoveAt(0);
            await Wait.UntilAsync(async () =>
            {
                var (client, served) = await ConnectAsync();
                if (served)
                    held.Add(client);
                else
                    client.Dispose();
                return served;
            }, TimeSpan.FromSeconds(30), "a connection to be served once one of the eight closed", cancellationToken: ct);
        }
        finally
        {
            foreach (var c in held)
                c.Dispose();
        }
    }
}
