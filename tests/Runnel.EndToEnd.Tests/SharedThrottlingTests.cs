using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Runnel.EndToEnd.Tests.Cluster;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Two Ingest processes on one Redis, one PostgreSQL and one ShardStore node, both writing into one shard as
/// fast as they can: the shard's write bucket is shared, so together they get no more than its limit (plus the
/// one second of burst the bucket starts with), and what does not fit is refused with the right errors. The
/// hot-key report of either process shows the keys written through the other, since counts meet in Redis.
/// </summary>
public sealed class SharedThrottlingTests
{
    private const int RecordsPerSecond = 200;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task Two_ingest_processes_on_one_redis_keep_a_shard_within_its_limit()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var ingests = await TwoIngests.StartAsync(
        [
            $"--Throttling:Shard:WriteRecordsPerSecond={RecordsPerSecond}",
            "--Capacity:HotKeyWindow=00:01:00",
        ], ct);
        var (cluster, second) = (ingests.Cluster, ingests.Second);

        var stream = Names.Stream("shared-thr");
        using var one = new KinesisJsonClient(cluster.Endpoint);
        using var two = new KinesisJsonClient(second.BaseAddress);
        await one.CreateStreamAsync(stream, 1, ct);

        var writers = new[] { new Writer(one, stream, "one"), new Writer(two, stream, "two") };
        var clock = Stopwatch.StartNew();
        using (var stop = new CancellationTokenSource())
        {
            stop.CancelAfter(Duration);
            await Task.WhenAll(writers.SelectMany(w => new[] { w.PutRecordsLoopAsync(stop.Token, ct), w.PutRecordLoopAsync(stop.Token, ct) }));
        }
        var elapsed = clock.Elapsed.TotalSeconds;

        var accepted = writers.Sum(w => w.Accepted);
        var failures = string.Join("; ", writers.Select(w => w.ToString()));
        TestContext.Current.TestOutputHelper?.WriteLine($"{accepted} accepted in {elapsed:F2} s (limit {RecordsPerSecond}/s, bound {RecordsPerSecond * elapsed + RecordsPerSecond:F0}): {failures}");
        // The limit over the whole run plus the full bucket it started with; no timing of single calls matters.
        Assert.True(accepted <= RecordsPerSecond * elapsed + RecordsPerSecond, $"{accepted} records accepted in {elapsed:F1} s: {failures}");
        // And the processes did not just refuse everything: most of the allowance was used.
        Assert.True(accepted >= RecordsPerSecond * Duration.TotalSeconds * 0.5, $"{accepted} records accepted in {elapsed:F1} s: {failures}");
        Assert.All(writers, w =>
        {
            Assert.True(w.RefusedPutRecord > 0, w.ToString());
            Assert.True(w.ThrottledInBatches > 0, w.ToString());
            Assert.Equal(0, w.OtherErrors);
        });

        // Every accepted record is in the shard, nothing refused is.
        var stored = await one.ReadAllAsync(stream, "shardId-000000000000", ct);
        Assert.Equal(accepted, stored.Count);

        // Each process reports the hot keys written through both.
        foreach (var endpoint in new[] { cluster.Endpoint, second.BaseAddress })
        {
            using var http = TestCredentials.SignedClient(endpoint);
            await Wait.UntilAsync(async () =>
            {
                var report = JsonDocument.Parse(await http.GetStringAsync($"/v1/streams/{stream}/hot-keys?shard=shardId-000000000000", ct)).RootElement;
                var keys = report.GetProperty("shards")[0].GetProperty("hotKeys").EnumerateArray().Select(k => k.GetProperty("partitionKey").GetString()).ToList();
                return keys.Contains("one-batch") && keys.Contains("two-batch") && keys.Contains("one-single") && keys.Contains("two-single");
            }, TimeSpan.FromSeconds(10), $"{endpoint} to report the keys of both processes", cancellationToken: ct);
        }
    }

    /// <summary>
    /// Each of two processes offers 60% of the one starting shard's record limit, which neither sees as hot by
    /// itself; the scaler (one, by the lease) sees the sum in Redis and splits the shard. One decision, one audit row.
    /// </summary>
    [Fact]
    public async Task Two_ingest_processes_add_up_their_traffic_for_one_on_demand_scaler()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var ingests = await TwoIngests.StartAsync(
        [
            "--Throttling:Shard:WriteRecordsPerSecond=50",
            "--Ingest:OnDemandShardCount=1",
            "--Capacity:EvaluationInterval=00:00:00.500",
            "--Capacity:Window=00:00:03",
            "--Capacity:Cooldown=00:05:00",
            "--Capacity:LeaseDuration=00:00:05",
        ], ct);
        var (cluster, second) = (ingests.Cluster, ingests.Second);

        var stream = Names.Stream("od-shared");
        using var one = new KinesisJsonClient(cluster.Endpoint);
        using var two = new KinesisJsonClient(second.BaseAddress);
        await one.CallAsync("CreateStream", new JsonObject { ["StreamName"] = stream, ["StreamModeDetails"] = new JsonObject { ["StreamMode"] = "ON_DEMAND" } }, ct);
        await one.WaitActiveAsync(stream, ct);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // 3 records every 100 ms per process: 30 records/s each, 60% of the shard's 50.
        var loads = new[] { one, two }.Select(client => Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            var n = 0;
            while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
                await client.PutRecordsAsync(stream, [.. Enumerable.Range(0, 3).Select(_ => ($"k{n++}", new byte[10]))], ct);
        }, ct)).ToList();
        try
        {
            await Wait.UntilAsync(async () => (await one.ShardIdsAsync(stream, ct)).Count > 1, TimeSpan.FromSeconds(45),
                "the on-demand stream to gain shards", TimeSpan.FromMilliseconds(250), ct);
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var load in loads)
                await load.ContinueWith(_ => { }, CancellationToken.None);
        }
        await one.WaitActiveAsync(stream, ct);

        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync(ct);
        await using (var audit = new NpgsqlCommand(
            """SELECT "Operation", "Outcome", "Details" FROM audit_entries WHERE "Resource" LIKE '%:stream/' || @name""", connection))
        {
            audit.Parameters.AddWithValue("name", stream);
            await using var reader = await audit.ExecuteReaderAsync(ct);
            Assert.True(await reader.ReadAsync(ct));
            Assert.Equal("OnDemandScaleUp", reader.GetString(0));
            Assert.Equal("Started", reader.GetString(1));
            var details = JsonDocument.Parse(reader.GetString(2)).RootElement;
            Assert.True(details.GetProperty("loads")[0].GetProperty("averageUse").GetDouble() >= 0.8, details.ToString());
            Assert.False(await reader.ReadAsync(ct));
        }
        await using (var lease = new NpgsqlCommand("""SELECT count(*) FROM leases WHERE "ApplicationName" = 'runnel:on-demand-scaler'""", connection))
            Assert.Equal(1L, await lease.ExecuteScalarAsync(ct));
    }

    /// <summary>
    /// A cluster of one ShardStore node and two Ingest processes on one Redis, under a key prefix of their own (bucket
    /// and counter keys carry the stream id, which every fresh cluster database starts at 1). Counts are published
    /// every 250 ms.
    /// </summary>
    private sealed class TwoIngests : IAsyncDisposable
    {
        private TwoIngests(RunnelCluster cluster, ProcessHost second) => (Cluster, Second) = (cluster, second);

        public RunnelCluster Cluster { get; }

        public ProcessHost Second { get; }

        public static async Task<TwoIngests> StartAsync(string[] ingestArguments, CancellationToken ct)
        {
            var redis = await TestServers.RedisAsync();
            var prefix = $"runnel-test:{Guid.NewGuid():N}";
            var cluster = await RunnelCluster.StartAsync(new ClusterOptions
            {
                StoreNodes = 1,
                IngestArguments =
                [
                    $"--ConnectionStrings:Redis={redis}",
                    $"--Throttling:KeyPrefix={prefix}:tb",
                    $"--Capacity:KeyPrefix={prefix}:cap",
                    "--Capacity:FlushInterval=00:00:00.250",
                    .. ingestArguments,
                ],
            }, ct);
            try
            {
                var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
                var second = await ProcessHost.StartAsync(cluster.Ingest.Options with
                {
                    Name = "ingest-2",
                    BaseAddress = address,
                    Arguments = [.. cluster.Ingest.Options.Arguments.Select(a => a.StartsWith("--urls=", StringComparison.Ordinal) ? $"--urls={address}" : a)],
                }, ct);
                return new TwoIngests(cluster, second);
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Second.DisposeAsync();
            await Cluster.DisposeAsync();
        }
    }

    private sealed class Writer(KinesisJsonClient client, string stream, string name)
    {
        private static readonly byte[] Data = new byte[64];
        private long _accepted, _refusedPutRecord, _throttledInBatches, _otherErrors;

        public long Accepted => Interlocked.Read(ref _accepted);
        public long RefusedPutRecord => Interlocked.Read(ref _refusedPutRecord);
        public long ThrottledInBatches => Interlocked.Read(ref _throttledInBatches);
        public long OtherErrors => Interlocked.Read(ref _otherErrors);

        /// <summary>Until <paramref name="stop"/>; a call in flight then still finishes, so its outcome is counted.</summary>
        public async Task PutRecordsLoopAsync(CancellationToken stop, CancellationToken ct)
        {
            var batch = Enumerable.Repeat(($"{name}-batch", Data), 50).ToList();
            while (!stop.IsCancellationRequested)
            {
                var results = await client.PutRecordsAsync(stream, batch, ct);
                foreach (var r in results)
                {
                    if (r.Succeeded)
                        Interlocked.Increment(ref _accepted);
                    else if (r.ErrorCode == "ProvisionedThroughputExceededException"
                        && r.ErrorMessage == $"Rate exceeded for shard shardId-000000000000 in stream {stream} under account 000000000000.")
                        Interlocked.Increment(ref _throttledInBatches);
                    else
                        Interlocked.Increment(ref _otherErrors);
                }
            }
        }

        public async Task PutRecordLoopAsync(CancellationToken stop, CancellationToken ct)
        {
            var body = new JsonObject { ["StreamName"] = stream, ["PartitionKey"] = $"{name}-single", ["Data"] = Convert.ToBase64String(Data) };
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await client.CallAsync("PutRecord", (JsonObject)body.DeepClone(), ct);
                    Interlocked.Increment(ref _accepted);
                }
                catch (KinesisCallException e) when (e.Status == 400 && e.Type == "ProvisionedThroughputExceededException")
                {
                    Interlocked.Increment(ref _refusedPutRecord);
                }
                catch (KinesisCallException)
                {
                    Interlocked.Increment(ref _otherErrors);
                }
            }
        }

        public override string ToString() =>
            $"{name}: accepted {Accepted}, PutRecord refused {RefusedPutRecord}, batch records throttled {ThrottledInBatches}, other errors {OtherErrors}";
    }
}
