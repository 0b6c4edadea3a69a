using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Runnel.TestKit;

namespace Runnel.Hardening.Tests;

/// <summary>
/// The platform makes no outbound call its operator did not configure. Standalone runs as its own process with every
/// proxy variable pointing at a listener of the test, which records any connection; the process's own sockets are
/// listed from /proc while it serves a session of calls.
/// </summary>
public sealed class OutboundTests
{
    [Fact]
    public async Task Standalone_connects_nowhere_while_it_starts_and_serves()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("runnel-outbound");
        using var proxy = new RecordingListener();
        var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
        var proxyUrl = $"http://127.0.0.1:{proxy.Port}";
        await using var host = await ProcessHost.StartAsync(new ProcessHostOptions("standalone", RepositoryPaths.ServiceAssembly("Runnel.Standalone"), address,
            [$"--urls={address}", $"--Runnel:DataDirectory={data.Path}"])
        {
            Environment = new Dictionary<string, string?>
            {
                ["HTTP_PROXY"] = proxyUrl, ["HTTPS_PROXY"] = proxyUrl, ["ALL_PROXY"] = proxyUrl,
                ["http_proxy"] = proxyUrl, ["https_proxy"] = proxyUrl, ["all_proxy"] = proxyUrl, ["NO_PROXY"] = null, ["no_proxy"] = null,
            },
            WorkingDirectory = data.Path,
        }, ct);
        var pid = host.ProcessId!.Value;

        var outbound = new HashSet<string>();
        using var http = new HttpClient { BaseAddress = address };
        async Task CallAsync(string operation, string json)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent(json, Encoding.UTF8) };
            request.Content.Headers.ContentType = new("application/x-amz-json-1.1");
            request.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
            using var response = await http.SendAsync(request, ct);
            Assert.True(response.IsSuccessStatusCode, $"{operation}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
            outbound.UnionWith(OutboundConnections(pid, address.Port));
        }

        await CallAsync("CreateStream", """{"StreamName":"out","ShardCount":2}""");
        await Wait.UntilAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("""{"StreamName":"out"}""", Encoding.UTF8) };
            request.Content.Headers.ContentType = new("application/x-amz-json-1.1");
            request.Headers.Add("X-Amz-Target", "Kinesis_20131202.DescribeStreamSummary");
            using var response = await http.SendAsync(request, ct);
            return (await response.Content.ReadAsStringAsync(ct)).Contains("ACTIVE", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), "the stream to become ACTIVE", cancellationToken: ct);
        for (var i = 0; i < 20; i++)
            await CallAsync("PutRecord", $$"""{"StreamName":"out","PartitionKey":"k{{i}}","Data":"AQID"}""");
        await CallAsync("ListStreams", "{}");
        await CallAsync("UpdateShardCount", """{"StreamName":"out","TargetShardCount":4,"ScalingType":"UNIFORM_SCALING"}""");
        using (var metrics = await http.GetAsync("/metrics", ct))
            Assert.True(metrics.IsSuccessStatusCode);
        // Background work (retention passes, the scaler, the bus) gets a few seconds of its own.
        var until = DateTime.UtcNow.AddSeconds(8);
        while (DateTime.UtcNow < until)
        {
            outbound.UnionWith(OutboundConnections(pid, address.Port));
            await Task.Delay(250, ct);
        }

        Assert.True(proxy.Connections.IsEmpty, $"connections through the proxy variables: {proxy.Connections.Count}\n{host.Output}");
        Assert.True(outbound.Count == 0, $"outbound connections of the process: {string.Join(", ", outbound)}");
    }

    [Fact]
    public void MassTransit_usage_telemetry_is_off()
    {
        // MassTransit posts its report five minutes after the bus starts (longer than a test should wait): its switch is
        // checked where the platform registers the bus.
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        Runnel.ServiceDefaults.MessagingExtensions.AddRunnelMessaging(builder);
        using var provider = builder.Services.BuildServiceProvider();
        Assert.False(provider.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled);
    }

    /// <summary>
    /// Remote endpoints of the process's TCP sockets that it opened itself: every socket whose inode is one of its file
    /// descriptors, except listeners and the connections accepted on its own port.
    /// </summary>
    private static IEnumerable<string> OutboundConnections(int pid, int servicePort)
    {
        var inodes = new HashSet<string>();
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
                    inodes.Add(target[8..^1]);
            }
        }
        catch (Exception e) when (e is DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (var table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
        {
            if (!File.Exists(table))
                continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                if (f.Length < 10 || !inodes.Contains(f[9]) || f[3] == "0A")
                    continue;
                var localPort = int.Parse(f[1].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (localPort == servicePort)
                    continue;
                yield return $"{f[2]} (state {f[3]})";
            }
        }
    }

    /// <summary>Accepts connections on loopback and records each one.</summary>
    private sealed class RecordingListener : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public RecordingListener()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public ConcurrentQueue<string> Connections { get; } = new();

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Connections.Enqueue(client.Client.RemoteEndPoint?.ToString() ?? "?");
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
