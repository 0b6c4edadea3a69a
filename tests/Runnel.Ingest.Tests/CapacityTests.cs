using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Runnel.Metadata;
using Runnel.TestKit;

namespace Runnel.Ingest.Tests;

/// <summary>On-demand scaling, hot partition keys, per-stream control-plane rates and UpdateShardCount's daily limit.</summary>
[Collection(CapacityCollection.Name)]
public sealed class CapacityTests(CapacityFixture f)
{
    private static readonly string Payload = Convert.ToBase64String(new byte[100]);

    /// <summary>Writes batches at a fixed pace until stopped, counting accepted and throttled records.</summary>
    private sealed class Load(CapacityFixture f, string stream, int recordsPerTick, TimeSpan tick, Func<int, string> key)
    {
        private readonly CancellationTokenSource _stop = new();
        private Task? _run;
        private long _accepted, _throttled, _sent;

        public long Accepted => Interlocked.Read(ref _accepted);
        public long Throttled => Interlocked.Read(ref _throttled);

        public void Start() => _run = Task.Run(RunAsync);

        private async Task RunAsync()
        {
            using var timer = new PeriodicTimer(tick);
            // Calls overlap (up to 8 in flight) so that a slow answer on a loaded machine (a commit's fsync behind
            // other tests' writes) does not lower the offered rate below the shard limits.
            using var inFlight = new SemaphoreSlim(8);
            var calls = new List<Task>();
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token))
                {
                    calls.RemoveAll(t => t.IsCompleted);
                    if (!inFlight.Wait(0))
                        continue;
                    calls.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await SendAsync();
                        }
                        finally
                        {
                            inFlight.Release();
                        }
                    }));
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            await Task.WhenAll(calls);
        }

        private async Task SendAsync()
        {
            var records = Enumerable.Range(0, recordsPerTick).Select(_ => new { PartitionKey = key((int)Interlocked.Increment(ref _sent)), Data = Payload }).ToArray();
            var answer = await f.CallAsync("PutRecords", new { StreamName = stream, Records = records });
            if (answer.Status != 200)
                return;
            foreach (var r in answer.Body.GetProperty("Records").EnumerateArray())
                if (r.TryGetProperty("SequenceNumber", out _))
                    Interlocked.Increment(ref _accepted);
                else if (r.GetProperty("ErrorCode").GetString() == "ProvisionedThroughputExceededException")
                    Interlocked.Increment(ref _throttled);
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            if (_run is not null)
                await _run;
        }
    }

    private async Task<int> OpenShardsAsync(string stream) => (await f.SummaryAsync(stream)).GetProperty("OpenShardCount").GetInt32();

    private async Task<List<(string Operation, string Outcome, JsonElement Details)>> AuditAsync(string stream)
    {
        var factory = f.Services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await using var db = await factory.CreateDbContextAsync(TestContext.Current.CancellationToken);
        var suffix = ":stream/" + stream;
        var rows = await db.AuditEntries.AsNoTracking().Where(a => a.Resource != null && a.Resource.EndsWith(suffix)).ToListAsync(TestContext.Current.CancellationToken);
        return [.. rows.OrderBy(r => r.Id).Select(r => (r.Operation, r.Outcome, JsonDocument.Parse(r.Details!).RootElement.Clone()))];
    }

    [Fact]
    public async Task On_demand_stream_under_sustained_load_gains_shards_and_throttling_stops_then_shrinks_back_when_quiet()
    {
        var stream = StandaloneFixture.NewStreamName("od");
        var provisioned = StandaloneFixture.NewStreamName("pv");
        await f.OkAsync("CreateStream", new { StreamName = stream, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        await f.OkAsync("CreateStream", new { StreamName = provisioned, ShardCount = 1 });
        await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(30));
        await f.WaitActiveAsync(provisioned, TimeSpan.FromSeconds(30));
        Assert.Equal(CapacityFixture.OnDemandShards, await OpenShardsAsync(stream));

        // 300 records/s over 2 shards of 50/s: each shard is offered 3 times its limit, so its one-second burst
        // (50 records) is gone after half a second of load. The scaler needs 0.8 of the limit on average over
        // complete seconds and so decides a second or more later; at 1.5 times the limit the burst lasted 2 s
        // and a split could come first on a young stream, leaving nothing to throttle.
        var load = new Load(f, stream, 30, TimeSpan.FromMilliseconds(100), i => $"key-{i}");
        // The provisioned stream gets 3 times its limit and must never be scaled.
        var provisionedLoad = new Load(f, provisioned, 15, TimeSpan.FromMilliseconds(100), i => $"key-{i}");
        load.Start();
        provisionedLoad.Start();
        try
        {
            await Wait.UntilAsync(() => load.Throttled > 0, TimeSpan.FromSeconds(20), "the starting capacity to throttle", cancellationToken: TestContext.Current.CancellationToken);
            await Wait.UntilAsync(async () => await OpenShardsAsync(stream) > CapacityFixture.OnDemandShards, TimeSpan.FromSeconds(45), "the on-demand stream to gain shards", cancellationToken: TestContext.Current.CancellationToken);
            await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(60));
            var grown = await OpenShardsAsync(stream);
            // Twice a peak of 3 times the limit asks for 6 shards' worth per shard, capped at MaxSplitPerShard (4):
            // 8 shards of 50/s for 300/s. A starved test machine may offer less in the measured seconds, so fewer
            // children (at least one split) are accepted here; the run below then needs a second scale-up.
            Assert.InRange(grown, CapacityFixture.OnDemandShards + 1, CapacityFixture.OnDemandShards * 4);

            // Throttling stops: a run of 300 accepted records with none refused comes, at the latest after a
            // second scale-up (a starved first peak may have asked for one halving only).
            var (accepted, throttled) = (load.Accepted, load.Throttled);
            await Wait.UntilAsync(() =>
            {
                if (load.Accepted < accepted + 300)
                    return false;
                if (load.Throttled == throttled)
                    return true;
                (accepted, throttled) = (load.Accepted, load.Throttled);
                return false;
            }, TimeSpan.FromSeconds(60), "300 accepted records in a row without a refusal", cancellationToken: TestContext.Current.CancellationToken);
            Assert.InRange(await OpenShardsAsync(stream), CapacityFixture.OnDemandShards + 1, CapacityFixture.OnDemandShards * 4 * 4);
        }
        finally
        {
            await load.StopAsync();
            await provisionedLoad.StopAsync();
        }

        Assert.True(provisionedLoad.Throttled > 0);
        Assert.Equal(1, await OpenShardsAsync(provisioned));
        Assert.Empty(await AuditAsync(provisioned));

        var audit = await AuditAsync(stream);
        var up = audit.First(a => a.Operation == "OnDemandScaleUp");
        Assert.Equal("Started", up.Outcome);
        Assert.Equal(CapacityFixture.OnDemandShards, up.Details.GetProperty("openShardsBefore").GetInt32());
        Assert.True(up.Details.GetProperty("openShardsAfter").GetInt32() > CapacityFixture.OnDemandShards, up.Details.ToString());
        Assert.Contains("hot shards", up.Details.GetProperty("reason").GetString());
        // Every shard the decision split was at 80% (ScaleUpThreshold) of its limit or more.
        var split = up.Details.GetProperty("splits").EnumerateArray().Select(x => x.GetProperty("shardId").GetString()).ToHashSet();
        Assert.NotEmpty(split);
        Assert.All(up.Details.GetProperty("loads").EnumerateArray().Where(l => split.Contains(l.GetProperty("shardId").GetString())),
            l => Assert.True(l.GetProperty("averageUse").GetDouble() >= 0.8, l.ToString()));

        // Quiet: pairs of cold neighbours merge, but never below the starting capacity.
        await Wait.UntilAsync(async () => await OpenShardsAsync(stream) == CapacityFixture.OnDemandShards
                && (await f.SummaryAsync(stream)).GetProperty("StreamStatus").GetString() == "ACTIVE",
            TimeSpan.FromSeconds(90), "the quiet stream to shrink back to its starting capacity", cancellationToken: TestContext.Current.CancellationToken);
        audit = await AuditAsync(stream);
        var downs = audit.Where(a => a.Operation == "OnDemandScaleDown").ToList();
        Assert.NotEmpty(downs);
        Assert.All(downs, d => Assert.True(d.Details.GetProperty("openShardsAfter").GetInt32() >= CapacityFixture.OnDemandShards));

        // The decisions are metrics too.
        var metrics = await f.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("runnel_ondemand_scaling_decisions", StringComparison.Ordinal)
            && l.Contains($"stream=\"{stream}\"", StringComparison.Ordinal) && l.Contains("action=\"ScaleUp\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Hot_keys_of_a_shard_are_reported_by_the_endpoint_and_in_DescribeStreamSummary()
    {
        var stream = StandaloneFixture.NewStreamName("hot");
        await f.OkAsync("CreateStream", new { StreamName = stream, ShardCount = 1 });
        await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(30));
        var big = Convert.ToBase64String(new byte[2000]);
        var small = Convert.ToBase64String(new byte[10]);
        // "whale" carries about 100 times the bytes of any other key.
        var records = Enumerable.Range(0, 20).Select(i => new { PartitionKey = i % 4 == 0 ? "whale" : $"minnow-{i}", Data = i % 4 == 0 ? big : small }).ToArray();
        await f.OkAsync("PutRecords", new { StreamName = stream, Records = records });
        await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "whale", Data = big });

        JsonElement report = default;
        await Wait.UntilAsync(async () =>
        {
            var text = await f.Http.GetStringAsync($"/v1/streams/{stream}/hot-keys?shard=shardId-000000000000&limit=3", TestContext.Current.CancellationToken);
            report = JsonDocument.Parse(text).RootElement.Clone();
            // Each replica flushes its counts every quarter second, so the two calls above may arrive in different flushes.
            var top = report.GetProperty("shards")[0].GetProperty("hotKeys");
            return top.GetArrayLength() > 0 && top[0].GetProperty("bytes").GetInt64() == 6 * (2000 + 5);
        }, TimeSpan.FromSeconds(10), "the counts of both calls to reach the store", cancellationToken: TestContext.Current.CancellationToken);
        var shard = Assert.Single(report.GetProperty("shards").EnumerateArray());
        Assert.Equal("shardId-000000000000", shard.GetProperty("shardId").GetString());
        var keys = shard.GetProperty("hotKeys").EnumerateArray().ToList();
        Assert.Equal(3, keys.Count);
        Assert.Equal("whale", keys[0].GetProperty("partitionKey").GetString());
        Assert.Equal(6 * (2000 + 5), keys[0].GetProperty("bytes").GetInt64());
        Assert.True(keys[0].GetProperty("share").GetDouble() > 0.9);

        var summary = await f.SummaryAsync(stream);
        var hot = Assert.Single(summary.GetProperty("HotShards").EnumerateArray());
        Assert.Equal("shardId-000000000000", hot.GetProperty("ShardId").GetString());
        Assert.Equal("whale", hot.GetProperty("HotPartitionKeys")[0].GetProperty("PartitionKey").GetString());

        var missing = await f.Http.GetAsync($"/v1/streams/{stream}/hot-keys?shard=shardId-000000000007", TestContext.Current.CancellationToken);
        Assert.Equal(400, (int)missing.StatusCode);
        Assert.Contains("ResourceNotFoundException", await missing.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ListShards_is_limited_per_stream()
    {
        var busy = StandaloneFixture.NewStreamName("ls");
        var other = StandaloneFixture.NewStreamName("ls");
        await f.OkAsync("CreateStream", new { StreamName = busy, ShardCount = 1 });
        await f.OkAsync("CreateStream", new { StreamName = other, ShardCount = 1 });

        var answers = new List<KinesisAnswer>();
        for (var i = 0; i < CapacityFixture.ListShardsPerSecond * 3; i++)
            answers.Add(await f.CallAsync("ListShards", new { StreamName = busy }));
        var refused = answers.Where(a => a.Status != 200).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, a =>
        {
            Assert.Equal(400, a.Status);
            Assert.Equal("LimitExceededException", a.Type);
            Assert.Equal($"Rate exceeded for stream {busy} under account 000000000000.", a.Message);
        });

        // The other stream has its own allowance.
        Assert.Equal(200, (await f.CallAsync("ListShards", new { StreamName = other })).Status);
    }

    [Fact]
    public async Task An_account_wide_rate_is_taken_once_per_call()
    {
        var stream = StandaloneFixture.NewStreamName("ds");
        await f.OkAsync("CreateStream", new { StreamName = stream, ShardCount = 1 });

        var answers = new List<KinesisAnswer>();
        for (var i = 0; i < CapacityFixture.DescribeStreamPerSecond * 3; i++)
            answers.Add(await f.CallAsync("DescribeStream", new { StreamName = stream }));

        // The bucket holds one second's worth: the first calls all pass, later ones are refused for the account.
        Assert.All(answers.Take(CapacityFixture.DescribeStreamPerSecond), a => Assert.Equal(200, a.Status));
        var refused = answers.Where(a => a.Status != 200).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, a => Assert.Equal("Rate exceeded for operation DescribeStream under account 000000000000.", a.Message));
    }

    [Fact]
    public async Task UpdateShardCount_is_limited_per_stream_over_a_rolling_day()
    {
        var stream = StandaloneFixture.NewStreamName("usc");
        await f.OkAsync("CreateStream", new { StreamName = stream, ShardCount = 1 });
        await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(30));
        var targets = new[] { 2, 1 };
        foreach (var target in targets.Take(CapacityFixture.UpdateShardCountPerDay))
        {
            await f.OkAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = target, ScalingType = "UNIFORM_SCALING" });
            await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(60));
        }

        var refused = await f.CallAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 2, ScalingType = "UNIFORM_SCALING" });
        Assert.Equal(400, refused.Status);
        Assert.Equal("LimitExceededException", refused.Type);
        Assert.Equal(
            $"UpdateShardCount cannot be called more than {CapacityFixture.UpdateShardCountPerDay} times in a rolling 24 hour period for stream {stream} under account 000000000000. Calls in the last 24 hours: {CapacityFixture.UpdateShardCountPerDay}.",
            refused.Message);
        Assert.Equal(1, await OpenShardsAsync(stream));

        // Another stream is not affected.
        var fresh = StandaloneFixture.NewStreamName("usc");
        await f.OkAsync("CreateStream", new { StreamName = fresh, ShardCount = 1 });
        await f.WaitActiveAsync(fresh, TimeSpan.FromSeconds(30));
        await f.OkAsync("UpdateShardCount", new { StreamName = fresh, TargetShardCount = 2, ScalingType = "UNIFORM_SCALING" });
    }

    /// <summary>
    /// The per-shard stream metrics as the Prometheus endpoint exports them: CloudWatch names, the OTel exporter's
    /// unit suffixes (<c>By</c> becomes <c>_bytes</c>, <c>ms</c> <c>_milliseconds</c>; brace units add none), <c>_total</c>
    /// on counters, <c>stream</c> and <c>shard</c> labels, and values equal to the traffic sent.
    /// </summary>
    [Fact]
    public async Task Prometheus_endpoint_exports_the_stream_metrics_with_CloudWatch_names_and_the_traffic_values()
    {
        var stream = CapacityFixture.ReadLimitedStream;
        await f.OkAsync("CreateStream", new { StreamName = stream, ShardCount = 1 });
        await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(30));

        // 80 records into a shard that takes 50 a second: about 50 accepted, the rest throttled.
        var records = Enumerable.Range(0, 80).Select(i => new { PartitionKey = "key", Data = Payload }).ToArray();
        var put = await f.OkAsync("PutRecords", new { StreamName = stream, Records = records });
        var accepted = put.GetProperty("Records").EnumerateArray().Count(r => r.TryGetProperty("SequenceNumber", out _));
        var throttled = put.GetProperty("FailedRecordCount").GetInt32();
        Assert.True(throttled > 0 && accepted > 0, put.ToString());

        var iterator = (await f.OkAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        int reads = 0, readRefusals = 0;
        long outgoing = 0;
        for (var i = 0; i < 6; i++)
        {
            var answer = await f.CallAsync("GetRecords", new { ShardIterator = iterator });
            if (answer.Status == 200)
            {
                reads++;
                iterator = answer.Body.GetProperty("NextShardIterator").GetString();
                outgoing += answer.Body.GetProperty("Records").EnumerateArray().Sum(r => Convert.FromBase64String(r.GetProperty("Data").GetString()!).Length + r.GetProperty("PartitionKey").GetString()!.Length);
            }
            else
            {
                Assert.Equal("ProvisionedThroughputExceededException", answer.Type);
                readRefusals++;
            }
        }
        Assert.True(reads > 0 && readRefusals > 0);
        Assert.Equal(accepted * (100 + 3), outgoing);

        var expected = new Dictionary<string, double>
        {
            ["IncomingBytes_bytes_total"] = accepted * (100 + 3),
            ["IncomingRecords_total"] = accepted,
            ["WriteProvisionedThroughputExceeded_total"] = throttled,
            ["ReadProvisionedThroughputExceeded_total"] = readRefusals,
            ["OutgoingBytes_bytes_total"] = outgoing,
            ["GetRecords_IteratorAgeMilliseconds_milliseconds_count"] = reads,
        };
        string scrape = "";
        Dictionary<string, double?> found = [];
        // The exporter caches a scrape briefly; wait until it shows this traffic.
        await Wait.UntilAsync(async () =>
        {
            scrape = await f.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
            found = expected.Keys.ToDictionary(k => k, k => Sample(scrape, k, stream));
            return expected.All(e => found[e.Key] == e.Value);
        }, TimeSpan.FromSeconds(20), "the scrape to show the traffic", cancellationToken: TestContext.Current.CancellationToken).ContinueWith(t =>
        {
            if (t.IsFaulted)
                Assert.Fail("Expected " + string.Join(", ", expected.Select(e => $"{e.Key}={e.Value} (found {found.GetValueOrDefault(e.Key)?.ToString() ?? "none"})"))
                    + $"\n{t.Exception?.InnerException?.Message}\nscrape of {scrape.Length} chars, {scrape.Split('\n').Count(l => l.StartsWith("IncomingRecords_total{", StringComparison.Ordinal))} IncomingRecords series, overflow: "
                    + string.Join(" | ", scrape.Split('\n').Where(l => l.Contains("overflow", StringComparison.Ordinal)).Take(5))
                    + "\nfirst series: " + string.Join(" | ", scrape.Split('\n').Where(l => l.StartsWith("IncomingRecords_total{", StringComparison.Ordinal)).Take(3))
                    + "\nlines of the stream:\n"
                    + string.Join('\n', scrape.Split('\n').Where(l => l.Contains(stream, StringComparison.Ordinal))));
        }, TestContext.Current.CancellationToken);
        Assert.Contains(scrape.Split('\n'), l => l.StartsWith("GetRecords_IteratorAgeMilliseconds_milliseconds_bucket{", StringComparison.Ordinal)
            && l.Contains($"stream=\"{stream}\"", StringComparison.Ordinal) && l.Contains("le=", StringComparison.Ordinal));
    }

    /// <summary>The value of the sample <paramref name="name"/> labelled with the stream and shard 0.</summary>
    private static double? Sample(string scrape, string name, string stream)
    {
        foreach (var line in scrape.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal) || !line.Contains($"stream=\"{stream}\"", StringComparison.Ordinal)
                || !line.Contains("shard=\"0\"", StringComparison.Ordinal))
                continue;
            var value = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0];
            return double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        }
        return null;
    }

    [Fact]
    public async Task Only_one_scaler_holds_the_lease_while_its_holder_lives()
    {
        var ct = TestContext.Current.CancellationToken;
        var host = f.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<Capacity.OnDemandScaler>().Single();
        var rival = ActivatorUtilities.CreateInstance<Capacity.OnDemandScaler>(f.Services);

        // The host's scaler renews its lease every evaluation; another replica's cannot take it meanwhile.
        await Wait.UntilAsync(() => host.TryHoldLeaseAsync(ct), TimeSpan.FromSeconds(10), "the host's scaler to hold the lease", cancellationToken: ct);
        Assert.False(await rival.TryHoldLeaseAsync(ct));
        Assert.True(await host.TryHoldLeaseAsync(ct));
    }

    /// <summary>
    /// The quiet period before a merge is kept in the metadata store: a replica that takes the decision over
    /// continues the cold clock the previous decider started rather than beginning a new quiet period.
    /// </summary>
    [Fact]
    public async Task A_new_decider_continues_the_cold_clock_of_the_previous_one()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = StandaloneFixture.NewStreamName("cold");
        await f.OkAsync("CreateStream", new { StreamName = stream, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(30));
        var factory = f.Services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        long streamId;
        await using (var db = await factory.CreateDbContextAsync(ct))
            streamId = await db.Streams.Where(s => s.Name == stream).Select(s => s.Id).SingleAsync(ct);

        // The host's scaler finds the idle stream cold and records since when.
        DateTimeOffset since = default;
        await Wait.UntilAsync(async () =>
        {
            await using var db = await factory.CreateDbContextAsync(ct);
            var row = await db.Leases.AsNoTracking().SingleOrDefaultAsync(l => l.ApplicationName == Capacity.OnDemandScaler.ColdClockName && l.StreamId == streamId, ct);
            if (row?.Checkpoint is not { } ms)
                return false;
            since = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(ms, System.Globalization.CultureInfo.InvariantCulture));
            return true;
        }, TimeSpan.FromSeconds(15), "the stream's cold clock", cancellationToken: ct);
        await Wait.UntilAsync(() => DateTimeOffset.UtcNow > since.AddMilliseconds(5), TimeSpan.FromSeconds(5), "the clock to move past the mark", cancellationToken: ct);

        // A replica that evaluates now (as after taking the lease over) sees the same start, not its own "now".
        var successor = ActivatorUtilities.CreateInstance<Capacity.OnDemandScaler>(f.Services);
        await successor.EvaluateAsync(ct);
        Assert.Equal(since, successor.ColdSince[streamId]);

        // Traffic warms the stream: the clock is cleared for every replica.
        var records = Enumerable.Range(0, 40).Select(i => new { PartitionKey = "k" + i, Data = Payload }).ToArray();
        await Wait.UntilAsync(async () =>
        {
            await f.OkAsync("PutRecords", new { StreamName = stream, Records = records });
            await using var db = await factory.CreateDbContextAsync(ct);
            return !await db.Leases.AnyAsync(l => l.ApplicationName == Capacity.OnDemandScaler.ColdClockName && l.StreamId == streamId, ct);
        }, TimeSpan.FromSeconds(20), "the cold clock to be cleared under load", poll: TimeSpan.FromMilliseconds(200), cancellationToken: ct);
    }

    [Fact]
    public async Task UpdateStreamMode_allows_two_switches_a_day_and_on_demand_streams_refuse_manual_resharding()
    {
        var stream = StandaloneFixture.NewStreamName("mode");
        await f.OkAsync("CreateStream", new { StreamName = stream, ShardCount = 1 });
        await f.WaitActiveAsync(stream, TimeSpan.FromSeconds(30));
        var arn = (await f.SummaryAsync(stream)).GetProperty("StreamARN").GetString();

        await f.OkAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        await f.OkAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "PROVISIONED" } });
        var third = await f.CallAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });

        Assert.Equal(400, third.Status);
        Assert.Equal("LimitExceededException", third.Type);
        Assert.Equal($"Stream {stream} under account 000000000000 cannot change its capacity mode more than 2 times in a rolling 24 hour period.", third.Message);
        Assert.Equal("PROVISIONED", (await f.SummaryAsync(stream)).GetProperty("StreamModeDetails").GetProperty("StreamMode").GetString());
        Assert.Equal(["UpdateStreamMode", "UpdateStreamMode"], (await AuditAsync(stream)).Select(a => a.Operation));

        // Manual resharding is for provisioned streams; on-demand ones are resharded by the scaler.
        var onDemand = StandaloneFixture.NewStreamName("mode");
        await f.OkAsync("CreateStream", new { StreamName = onDemand, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        await f.WaitActiveAsync(onDemand, TimeSpan.FromSeconds(30));
        var split = await f.CallAsync("SplitShard", new { StreamName = onDemand, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "1" });
        Assert.Equal("InvalidArgumentException", split.Type);
        Assert.Equal($"SplitShard is only supported for streams in PROVISIONED capacity mode; stream {onDemand} under account 000000000000 is in ON_DEMAND mode.", split.Message);
        var merge = await f.CallAsync("MergeShards", new { StreamName = onDemand, ShardToMerge = "shardId-000000000000", AdjacentShardToMerge = "shardId-000000000001" });
        Assert.Equal("InvalidArgumentException", merge.Type);
        var rescale = await f.CallAsync("UpdateShardCount", new { StreamName = onDemand, TargetShardCount = 3, ScalingType = "UNIFORM_SCALING" });
        Assert.Equal("InvalidArgumentException", rescale.Type);
        Assert.Equal(CapacityFixture.OnDemandShards, await OpenShardsAsync(onDemand));
    }
}
