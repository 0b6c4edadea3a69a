using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Runnel.EndToEnd.Tests.Cluster;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// An event source mapping in the deployed shape: two FanOut replicas as their own processes on PostgreSQL, the
/// mapping created through Ingest's public port (which forwards the Lambda API to the first replica), and records
/// flowing to a receiver the test stands up. The two replicas share the two shards' leases, one each (each reports it
/// on its metrics endpoint), and until the crash the leases keep each shard on one replica, so no record arrives twice.
/// The first replica is killed with SIGKILL mid-delivery and started again: the other (or the restarted one) continues
/// its shard from the last checkpoint once the lease expires, so every record reaches the receiver at least once, none
/// is missing, and each key's records arrive in order.
/// </summary>
public sealed class EventSourceMappingCrashTests
{
    private const int Keys = 12;
    private const int PerKey = 250;

    [Fact]
    public async Task A_killed_FanOut_resumes_delivery_from_its_checkpoint_without_gaps()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await RunnelCluster.StartAsync(new ClusterOptions
        {
            FanOutReplicas = 2,
            // The producer writes 3,000 records at once; the shard write limits are not under test here.
            IngestArguments = ["--Throttling:Enabled=false"],
            FanOutArguments =
            [
                "--FanOut:Mappings:LeaseSeconds=5",
                "--FanOut:Mappings:ScanIntervalMilliseconds=250",
                // The receiver listens on loopback, which mappings may call only when it is listed.
                "--FanOut:Mappings:AllowedHosts:0=127.0.0.1",
                "--FanOut:Mappings:RetryBaseMilliseconds=50",
                "--FanOut:Mappings:RetryMaxMilliseconds=500",
            ],
        }, ct);
        var fanOut = cluster.FanOuts[0];
        using var kinesis = new KinesisJsonClient(cluster.Endpoint);
        var stream = Names.Stream("esm-crash");
        await kinesis.CreateStreamAsync(stream, 2, ct);

        // Each batch takes a while, so the kill lands while batches are being delivered.
        var received = new ConcurrentQueue<(string Key, int N)>();
        await using var receiver = await StartReceiverAsync(records =>
        {
            foreach (var (key, data) in records)
            {
                var parts = data.Split(':');
                received.Enqueue((key, int.Parse(parts[1], CultureInfo.InvariantCulture)));
            }
            Thread.Sleep(40);
        });

        using var http = TestCredentials.SignedClient(cluster.Endpoint);
        using var create = await http.PostAsJsonAsync("/2015-03-31/event-source-mappings/", new
        {
            EventSourceArn = $"arn:aws:kinesis:us-east-1:000000000000:stream/{stream}",
            FunctionName = receiver.Url,
            StartingPosition = "TRIM_HORIZON",
            BatchSize = 10,
            ParallelizationFactor = 2,
        }, new JsonSerializerOptions(), ct); // Lambda's member names are PascalCase
        Assert.True((int)create.StatusCode == 202, $"create answered {(int)create.StatusCode}: {await create.Content.ReadAsStringAsync(ct)}\n{cluster.Describe()}");
        var uuid = (await create.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("UUID").GetString()!;
        // The replicas share the leases: one shard each.
        foreach (var replica in cluster.FanOuts)
        {
            await Wait.UntilAsync(async () => await LeasesHeldAsync(replica.BaseAddress, uuid, ct) == 1, TimeSpan.FromSeconds(30),
                $"{replica} to report one of the two leases", cancellationToken: ct);
        }

        for (var n = 0; n < PerKey; n += 10)
        {
            var batch = Enumerable.Range(n, 10).SelectMany(i => Enumerable.Range(0, Keys).Select(k => ($"key-{k}", Encoding.UTF8.GetBytes($"key-{k}:{i}")))).ToList();
            var results = await kinesis.PutRecordsAsync(stream, batch, ct);
            Assert.All(results, r => Assert.True(r.Succeeded, r.ErrorMessage));
        }

        const int total = Keys * PerKey;
        await Wait.UntilAsync(() => Task.FromResult(received.Count >= total / 5), TimeSpan.FromSeconds(90),
            "a fifth of the records before the kill", cancellationToken: ct);
        await fanOut.KillAsync();
        var beforeKill = received.ToList();
        var atKill = beforeKill.Count;
        Assert.True(atKill < total, "the kill should land mid-delivery");
        Assert.Equal(atKill, beforeKill.Distinct().Count());
        await fanOut.RestartAsync(ct);

        await Wait.UntilAsync(() => Task.FromResult(received.Select(r => r).Distinct().Count() >= total), TimeSpan.FromSeconds(120),
            $"all {total} records after the restart", cancellationToken: ct);

        foreach (var group in received.ToList().GroupBy(r => r.Key))
        {
            // In arrival order, a key's records never skip ahead: each is a repeat (redelivery after the crash) or the
            // next one. Their first arrivals are therefore 0..PerKey-1 in order.
            var highest = -1;
            foreach (var (_, n) in group)
            {
                Assert.True(n <= highest + 1, $"{group.Key}: record {n} arrived before record {highest + 1}");
                highest = Math.Max(highest, n);
            }
            Assert.Equal(Enumerable.Range(0, PerKey), group.Select(r => r.N).Distinct());
        }
        Assert.Equal(Keys, received.Select(r => r.Key).Distinct().Count());
        TestContext.Current.TestOutputHelper?.WriteLine($"{atKill} of {total} records delivered at the kill; {received.Count - total} redelivered after the restart");
    }

    /// <summary>The replica's <c>runnel.fanout.mapping.leases_held</c> gauge for the mapping, from its Prometheus endpoint.</summary>
    private static async Task<int> LeasesHeldAsync(Uri replica, string uuid, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = replica, Timeout = TimeSpan.FromSeconds(10) };
        var text = await http.GetStringAsync("/metrics", ct);
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("runnel_fanout_mapping_leases_held{", StringComparison.Ordinal)
            && l.Contains($"mapping=\"{uuid}\"", StringComparison.Ordinal));
        return line is null ? 0 : (int)double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private sealed class Receiver(WebApplication app, string url) : IAsyncDisposable
    {
        public string Url => url;

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task<Receiver> StartReceiverAsync(Action<IReadOnlyList<(string Key, string Data)>> handle)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/fn", async (HttpContext http) =>
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body);
            var records = doc.RootElement.GetProperty("Records").EnumerateArray().Select(r => (
                r.GetProperty("kinesis").GetProperty("partitionKey").GetString()!,
                Encoding.UTF8.GetString(Convert.FromBase64String(r.GetProperty("kinesis").GetProperty("data").GetString()!)))).ToList();
            handle(records);
            http.Response.StatusCode = 200;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Receiver(app, address.TrimEnd('/') + "/fn");
    }
}
