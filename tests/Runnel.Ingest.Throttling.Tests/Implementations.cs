using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Runnel.Ingest.Throttling.Buckets;
using Runnel.TestKit;
using StackExchange.Redis;

namespace Runnel.Ingest.Throttling.Tests;

/// <summary>Options that never change, as <see cref="IOptionsMonitor{TOptions}"/>.</summary>
internal sealed class FixedOptions<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}

/// <summary>The in-process limiter on a fake clock: time passes only when a test says so.</summary>
public sealed class InProcessLimiterTests : LimiterContract
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly Dictionary<string, ThroughputLimiter> _byPrefix = [];

    protected override int Slack => 0;

    protected override IThroughputLimiter Create(ThrottlingOptions options)
    {
        var limiter = ThroughputLimiter.InProcess(new FixedOptions<ThrottlingOptions>(options), _time);
        _byPrefix[options.KeyPrefix] = limiter;
        return limiter;
    }

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }

    protected override Task<int> LiveKeysAsync(ThrottlingOptions options) =>
        Task.FromResult(((InProcessTokenBuckets)_byPrefix[options.KeyPrefix].Buckets).KeyCount);
}

/// <summary>The Redis limiter on the server's clock (RUNNEL_TEST_REDIS).</summary>
public sealed class RedisLimiterTests : LimiterContract, IAsyncLifetime
{
    private ConnectionMultiplexer? _redis;

    private ConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("not initialized");

    // Real time passes between and during calls; at the rates used here that is at most one token.
    protected override int Slack => 1;

    public async ValueTask InitializeAsync() =>
        _redis = await ConnectionMultiplexer.ConnectAsync(await TestServers.RedisAsync());

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    protected override IThroughputLimiter Create(ThrottlingOptions options) =>
        ThroughputLimiter.Redis(new FixedOptions<ThrottlingOptions>(options), Redis);

    // Timers may fire a little before the server's clock has moved as far; a few ms more make sure
    // at least the promised time has passed there (Slack covers the extra).
    protected override Task PassAsync(TimeSpan time) => Task.Delay(time + TimeSpan.FromMilliseconds(15), Ct);

    protected override async Task<int> LiveKeysAsync(ThrottlingOptions options)
    {
        var server = Redis.GetServers()[0];
        var count = 0;
        await foreach (var _ in server.KeysAsync(pattern: options.KeyPrefix + ":*"))
        {
            count++;
        }

        return count;
    }
}
