namespace Runnel.Ingest.Throttling.Tests;

/// <summary>
/// The behaviour both limiters must share. Each implementation runs every test here: in process
/// on a fake clock, on Redis on the real clock. Rates are low (a few per second) so that the few
/// milliseconds a Redis round trip takes cannot refill a whole token between two calls; where real
/// time has to pass, <see cref="Slack"/> allows the extra tokens it may refill.
/// </summary>
public abstract class LimiterContract
{
    private static long _nextStreamId = Random.Shared.NextInt64(1_000_000, 1_000_000_000);

    protected abstract IThroughputLimiter Create(ThrottlingOptions options);

    /// <summary>Lets <paramref name="time"/> pass on the limiter's clock.</summary>
    protected abstract Task PassAsync(TimeSpan time);

    /// <summary>Tokens that real time may add beyond what <see cref="PassAsync"/> promised.</summary>
    protected abstract int Slack { get; }

    /// <summary>Keys the store holds under the options' prefix right now.</summary>
    protected abstract Task<int> LiveKeysAsync(ThrottlingOptions options);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static StreamKey NewStream(string? name = null) =>
        new(Interlocked.Increment(ref _nextStreamId), name ?? "s-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Options with every per-shard limit switched off except those the test sets.</summary>
    protected static ThrottlingOptions Options(Action<ShardLimits>? shard = null)
    {
        var options = new ThrottlingOptions
        {
            KeyPrefix = "test:" + Guid.NewGuid().ToString("N"),
            Shard = new ShardLimits
            {
                WriteBytesPerSecond = 0,
                WriteRecordsPerSecond = 0,
                ReadBytesPerSecond = 0,
                GetRecordsPerSecond = 0,
                GetShardIteratorPerSecond = 0,
                LargeReadBytes = 0,
            },
        };
        shard?.Invoke(options.Shard);
        return options;
    }

    private static ShardWriteDemand Records(int shard, params int[] sizes) => new(shard, sizes);

    private static ShardWriteDemand Many(int shard, int count, int size) => new(shard, Enumerable.Repeat(size, count).ToArray());

    [Fact]
    public async Task Burst_of_records_is_one_second_of_rate_and_the_rest_is_refused()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 4));
        var stream = NewStream();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var first = await limiter.AcquireWritesAsync(stream, [Many(0, 6, 10)], Ct);
        var second = await limiter.AcquireWritesAsync(stream, [Many(0, 3, 10)], Ct);
        var elapsed = clock.Elapsed;

        Assert.Equal([4], first);
        // Nothing is left after the burst; a busy machine may let the bucket refill one record per 250 ms between the
        // two calls, and no more than that.
        var refilled = (int)(elapsed.TotalSeconds * 4);
        Assert.True(second[0] <= refilled, $"granted {second[0]} after the burst, {elapsed.TotalMilliseconds:F0} ms later (at most {refilled} refilled)");
    }

    [Fact]
    public async Task Grants_the_longest_prefix_that_fits_and_never_skips_a_record()
    {
        var limiter = Create(Options(s => s.WriteBytesPerSecond = 1000));
        var stream = NewStream();

        // 400 + 400 fit in 1000 bytes, the 300 does not, so the 100 after it must not go in either.
        var granted = await limiter.AcquireWritesAsync(stream, [Records(0, 400, 400, 300, 100)], Ct);
        Assert.Equal([2], granted);

        // The 200 bytes left are still there for the next request.
        var next = await limiter.AcquireWritesAsync(stream, [Records(0, 150, 100)], Ct);
        Assert.Equal([1], next);
    }

    [Fact]
    public async Task A_record_larger_than_the_burst_goes_in_alone_on_an_idle_shard_and_leaves_a_debt()
    {
        var limiter = Create(Options(s => s.WriteBytesPerSecond = 1000));
        var stream = NewStream();

        // 2,500 bytes into a full 1,000-byte bucket: admitted alone, the 10 after it is not.
        Assert.Equal([1], await limiter.AcquireWritesAsync(stream, [Records(0, 2500, 10)], Ct));
        Assert.Equal([0], await limiter.AcquireWritesAsync(stream, [Records(0, 10)], Ct));
        // Not full yet after 1 s (debt of 1,500 repaid to -500): neither small nor large fit.
        await PassAsync(TimeSpan.FromSeconds(1));
        Assert.Equal([0], await limiter.AcquireWritesAsync(stream, [Records(0, 2500)], Ct));
        await PassAsync(TimeSpan.FromSeconds(1.6));
        Assert.Equal([1], await limiter.AcquireWritesAsync(stream, [Records(0, 2500)], Ct));
    }

    [Fact]
    public async Task Both_record_and_byte_limits_apply_and_the_tighter_one_wins()
    {
        var limiter = Create(Options(s => { s.WriteRecordsPerSecond = 5; s.WriteBytesPerSecond = 100; }));
        var stream = NewStream();

        Assert.Equal([3], await limiter.AcquireWritesAsync(stream, [Many(0, 8, 30)], Ct));
        Assert.Equal([5], await limiter.AcquireWritesAsync(NewStream(), [Many(0, 8, 1)], Ct));
    }

    [Fact]
    public async Task Shards_of_one_request_are_limited_independently()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 3));
        var stream = NewStream();
        Assert.Equal([3], await limiter.AcquireWritesAsync(stream, [Many(0, 3, 1)], Ct));

        var granted = await limiter.AcquireWritesAsync(stream, [Many(0, 2, 1), Many(1, 5, 1), Many(2, 1, 1)], Ct);

        Assert.Equal([0, 3, 1], granted);
    }

    [Fact]
    public async Task Two_demands_for_the_same_shard_share_its_bucket_in_order()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 4));

        var granted = await limiter.AcquireWritesAsync(NewStream(), [Many(7, 3, 1), Many(7, 3, 1)], Ct);

        Assert.Equal([3, 1], granted);
    }

    [Fact]
    public async Task A_re_created_stream_with_the_same_name_starts_with_full_buckets()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 2));
        var old = NewStream("orders");
        var recreated = NewStream("orders");

        Assert.Equal([2], await limiter.AcquireWritesAsync(old, [Many(0, 5, 1)], Ct));
        Assert.Equal([2], await limiter.AcquireWritesAsync(recreated, [Many(0, 5, 1)], Ct));
    }

    [Fact]
    public async Task Tokens_refill_at_the_rate()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 4));
        var stream = NewStream();
        Assert.Equal([4], await limiter.AcquireWritesAsync(stream, [Many(0, 10, 1)], Ct));

        await PassAsync(TimeSpan.FromMilliseconds(500));
        var granted = (await limiter.AcquireWritesAsync(stream, [Many(0, 10, 1)], Ct))[0];

        Assert.InRange(granted, 2, 2 + Slack);
    }

    [Fact]
    public async Task An_idle_shard_saves_up_no_more_than_the_burst()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 4));
        var stream = NewStream();
        Assert.Equal([4], await limiter.AcquireWritesAsync(stream, [Many(0, 4, 1)], Ct));

        await PassAsync(TimeSpan.FromMilliseconds(2500));

        Assert.Equal([4], await limiter.AcquireWritesAsync(stream, [Many(0, 20, 1)], Ct));
    }

    [Fact]
    public async Task A_larger_burst_setting_saves_up_more()
    {
        var options = Options(s => s.WriteRecordsPerSecond = 4);
        options.BurstSeconds = 2.5;
        var limiter = Create(options);

        Assert.Equal([10], await limiter.AcquireWritesAsync(NewStream(), [Many(0, 20, 1)], Ct));
    }

    [Fact]
    public async Task Sustained_demand_gets_the_rate_plus_one_burst()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 20));
        var stream = NewStream();
        var total = 0;
        var step = TimeSpan.FromMilliseconds(100);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 15; i++)
        {
            total += (await limiter.AcquireWritesAsync(stream, [Many(0, 10, 1)], Ct))[0];
            await PassAsync(step);
        }

        total += (await limiter.AcquireWritesAsync(stream, [Many(0, 10, 1)], Ct))[0];

        // 20 of burst plus 20/s over the 1.5 s promised, or over the real time taken if longer.
        var seconds = Math.Max(1.5, clock.Elapsed.TotalSeconds);
        Assert.InRange(total, 50, (int)(20 + 20 * seconds) + Slack);
    }

    [Fact]
    public async Task Concurrent_requests_never_share_out_more_than_the_bucket_holds()
    {
        var limiter = Create(Options(s => s.WriteRecordsPerSecond = 4));
        var stream = NewStream();

        var grants = await Task.WhenAll(Enumerable.Range(0, 40)
            .Select(_ => limiter.AcquireWritesAsync(stream, [Many(0, 1, 1)], Ct).AsTask()));

        Assert.InRange(grants.Sum(g => g[0]), 4, 4 + Slack);
    }

    [Fact]
    public async Task GetRecords_calls_are_limited_per_shard()
    {
        var limiter = Create(Options(s => s.GetRecordsPerSecond = 5));
        var stream = NewStream();

        var admitted = 0;
        for (var i = 0; i < 8; i++)
        {
            admitted += await limiter.TryAcquireReadAsync(stream, 0, Ct) ? 1 : 0;
        }

        Assert.Equal(5, admitted);
        Assert.True(await limiter.TryAcquireReadAsync(stream, 1, Ct));
    }

    [Fact]
    public async Task Read_bytes_in_debt_hold_back_reads_until_repaid()
    {
        var limiter = Create(Options(s => s.ReadBytesPerSecond = 1000));
        var stream = NewStream();
        Assert.True(await limiter.TryAcquireReadAsync(stream, 0, Ct));

        // 2,000 bytes out of a 1,000-byte bucket leaves a debt of 1,000: one second at 1,000 B/s.
        await limiter.ChargeReadAsync(stream, 0, 2000, Ct);

        await PassAsync(TimeSpan.FromMilliseconds(600));
        Assert.False(await limiter.TryAcquireReadAsync(stream, 0, Ct));
        await PassAsync(TimeSpan.FromMilliseconds(500));
        Assert.True(await limiter.TryAcquireReadAsync(stream, 0, Ct));
    }

    [Fact]
    public async Task A_large_answer_blocks_the_shards_reads_for_the_penalty_time()
    {
        var limiter = Create(Options(s => { s.LargeReadBytes = 10_000; s.LargeReadPenalty = TimeSpan.FromMilliseconds(800); s.GetRecordsPerSecond = 5; }));
        var stream = NewStream();
        Assert.True(await limiter.TryAcquireReadAsync(stream, 0, Ct));

        await limiter.ChargeReadAsync(stream, 0, 9_999, Ct);
        Assert.True(await limiter.TryAcquireReadAsync(stream, 0, Ct));

        await limiter.ChargeReadAsync(stream, 0, 10_000, Ct);
        Assert.True(await limiter.TryAcquireReadAsync(stream, 1, Ct));

        await PassAsync(TimeSpan.FromMilliseconds(500));
        Assert.False(await limiter.TryAcquireReadAsync(stream, 0, Ct));
        await PassAsync(TimeSpan.FromMilliseconds(400));
        Assert.True(await limiter.TryAcquireReadAsync(stream, 0, Ct));
    }

    [Fact]
    public async Task GetShardIterator_calls_are_limited_per_shard()
    {
        var limiter = Create(Options(s => s.GetShardIteratorPerSecond = 5));
        var stream = NewStream();

        var admitted = 0;
        for (var i = 0; i < 7; i++)
        {
            admitted += await limiter.TryAcquireShardIteratorAsync(stream, 3, Ct) ? 1 : 0;
        }

        Assert.Equal(5, admitted);
        Assert.True(await limiter.TryAcquireShardIteratorAsync(stream, 4, Ct));
        // Iterators and reads are separate buckets.
        Assert.True(await limiter.TryAcquireReadAsync(stream, 3, Ct));
    }

    [Fact]
    public async Task Account_wide_control_plane_limits_span_streams_and_stream_limits_do_not()
    {
        var options = Options();
        options.ControlPlane["CreateStream"] = new ControlPlaneLimit { PerSecond = 3 };
        options.ControlPlane["ListShards"] = new ControlPlaneLimit { PerSecond = 2, Scope = ControlPlaneScope.Stream };
        var limiter = Create(options);

        var created = 0;
        for (var i = 0; i < 5; i++)
        {
            created += await limiter.TryAcquireControlPlaneAsync("CreateStream", NewStream(), Ct) ? 1 : 0;
        }

        var a = NewStream();
        var listedA = 0;
        for (var i = 0; i < 4; i++)
        {
            listedA += await limiter.TryAcquireControlPlaneAsync("ListShards", a, Ct) ? 1 : 0;
        }

        Assert.Equal(3, created);
        Assert.Equal(2, listedA);
        Assert.True(await limiter.TryAcquireControlPlaneAsync("ListShards", NewStream(), Ct));
        Assert.True(await limiter.TryAcquireControlPlaneAsync("PutRecord", null, Ct));
    }

    [Fact]
    public async Task Switched_off_globally_everything_is_admitted_without_touching_the_store()
    {
        var options = Options(s => { s.WriteRecordsPerSecond = 1; s.GetRecordsPerSecond = 1; s.GetShardIteratorPerSecond = 1; s.LargeReadBytes = 1; });
        options.ControlPlane["CreateStream"] = new ControlPlaneLimit { PerSecond = 1 };
        options.Enabled = false;
        var limiter = Create(options);
        var stream = NewStream();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal([50], await limiter.AcquireWritesAsync(stream, [Many(0, 50, 1000)], Ct));
            Assert.True(await limiter.TryAcquireReadAsync(stream, 0, Ct));
            await limiter.ChargeReadAsync(stream, 0, 100_000_000, Ct);
            Assert.True(await limiter.TryAcquireShardIteratorAsync(stream, 0, Ct));
            Assert.True(await limiter.TryAcquireControlPlaneAsync("CreateStream", stream, Ct));
        }

        Assert.Null(limiter.LimitsFor(stream.StreamName));
        Assert.Equal(0, await LiveKeysAsync(options));
    }

    [Fact]
    public async Task A_stream_can_be_switched_off_or_raised_while_others_keep_the_defaults()
    {
        var options = Options(s => s.WriteRecordsPerSecond = 2);
        options.Streams["bench"] = new StreamLimitsOverride { Enabled = false };
        options.Streams["fast"] = new StreamLimitsOverride { WriteRecordsPerSecond = 30 };
        var limiter = Create(options);

        Assert.Equal([500], await limiter.AcquireWritesAsync(NewStream("bench"), [Many(0, 500, 100)], Ct));
        Assert.Equal([30], await limiter.AcquireWritesAsync(NewStream("fast"), [Many(0, 100, 1)], Ct));
        Assert.Equal([2], await limiter.AcquireWritesAsync(NewStream("other"), [Many(0, 100, 1)], Ct));
        Assert.Null(limiter.LimitsFor("bench"));
        Assert.Equal(30, limiter.LimitsFor("fast")!.WriteRecordsPerSecond);
        Assert.Equal(2, limiter.LimitsFor("other")!.WriteRecordsPerSecond);
    }

    [Fact]
    public async Task Defaults_are_the_managed_service_limits()
    {
        var limiter = Create(new ThrottlingOptions { KeyPrefix = "test:" + Guid.NewGuid().ToString("N") });
        var stream = NewStream();

        var limits = limiter.LimitsFor(stream.StreamName)!;
        Assert.Equal(new EffectiveShardLimits(1024 * 1024, 1000, 2 * 1024 * 1024, 5, 5, 10 * 1024 * 1024, TimeSpan.FromSeconds(5)), limits);

        // 1,000 records of 1 KiB fit in one second's burst (1,000 records, 1 MiB); 1,001 do not.
        Assert.Equal([1000], await limiter.AcquireWritesAsync(stream, [Many(0, 1001, 1024)], Ct));
        // One whole 1 MiB record fits in an idle shard.
        Assert.Equal([1], await limiter.AcquireWritesAsync(stream, [Records(1, 1024 * 1024)], Ct));
    }

    [Fact]
    public async Task Keys_of_idle_shards_go_away_once_their_buckets_would_be_full()
    {
        var options = Options(s => s.WriteRecordsPerSecond = 10);
        var limiter = Create(options);
        await limiter.AcquireWritesAsync(NewStream(), [Many(0, 3, 1), Many(1, 3, 1)], Ct);
        Assert.Equal(2, await LiveKeysAsync(options));

        // Full again after 0.3 s, plus the one second of slack on every key's lifetime.
        await PassAsync(TimeSpan.FromMilliseconds(1400));

        Assert.Equal(0, await LiveKeysAsync(options));
    }
}
