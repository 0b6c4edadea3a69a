using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Runnel.Ingest.Throttling.Buckets;
using Runnel.TestKit;
using StackExchange.Redis;

namespace Runnel.Ingest.Throttling.Tests;

public sealed class ConfigurationTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddRunnelThrottling(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void Without_a_Redis_connection_string_the_buckets_are_in_process()
    {
        using var provider = Build([]);

        var limiter = Assert.IsType<ThroughputLimiter>(provider.GetRequiredService<IThroughputLimiter>());

        Assert.IsType<InProcessTokenBuckets>(limiter.Buckets);
    }

    [Fact]
    public async Task With_a_Redis_connection_string_the_buckets_are_in_Redis()
    {
        using var provider = Build(new() { ["ConnectionStrings:Redis"] = await TestServers.RedisAsync() });

        var limiter = Assert.IsType<ThroughputLimiter>(provider.GetRequiredService<IThroughputLimiter>());

        Assert.IsType<RedisTokenBuckets>(limiter.Buckets);
        var stream = new StreamKey(Random.Shared.NextInt64(1, long.MaxValue), "cfg");
        Assert.Equal([1000], await limiter.AcquireWritesAsync(stream, [new ShardWriteDemand(0, Enumerable.Repeat(10, 1200).ToArray())], TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Overrides_and_the_switch_bind_from_configuration()
    {
        using var provider = Build(new()
        {
            ["Throttling:Shard:WriteRecordsPerSecond"] = "2000",
            ["Throttling:Streams:bench:Enabled"] = "false",
            ["Throttling:Streams:orders:ReadBytesPerSecond"] = "0",
            ["Throttling:ControlPlane:ListStreams:PerSecond"] = "5",
        });

        var options = provider.GetRequiredService<IOptions<ThrottlingOptions>>().Value;

        Assert.Equal(2000, options.ForStream("any")!.WriteRecordsPerSecond);
        Assert.Null(options.ForStream("bench"));
        Assert.Equal(0, options.ForStream("orders")!.ReadBytesPerSecond);
        Assert.Equal(2000, options.ForStream("orders")!.WriteRecordsPerSecond);
        Assert.Equal(5, options.ControlPlane["ListStreams"].PerSecond);
        Assert.Equal(5, options.ControlPlane["CreateStream"].PerSecond);

        using var off = Build(new() { ["Throttling:Enabled"] = "false" });
        Assert.Null(off.GetRequiredService<IThroughputLimiter>().LimitsFor("any"));
    }

    [Fact]
    public void Negative_limits_fail_validation()
    {
        using var provider = Build(new() { ["Throttling:Streams:x:WriteBytesPerSecond"] = "-1" });

        var e = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<ThrottlingOptions>>().Value);

        Assert.Contains("Throttling:Streams:x", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_Redis_admits_when_failing_open_and_throws_otherwise()
    {
        var port = FreePorts.Get(1)[0];
        var config = ConfigurationOptions.Parse($"127.0.0.1:{port}");
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = 200;
        await using var dead = await ConnectionMultiplexer.ConnectAsync(config);
        var stream = new StreamKey(1, "s");
        var demand = new[] { new ShardWriteDemand(0, Enumerable.Repeat(1, 5000).ToArray()) };

        var open = ThroughputLimiter.Redis(new FixedOptions<ThrottlingOptions>(new ThrottlingOptions()), dead);
        Assert.Equal([5000], await open.AcquireWritesAsync(stream, demand, TestContext.Current.CancellationToken));

        var closed = ThroughputLimiter.Redis(new FixedOptions<ThrottlingOptions>(new ThrottlingOptions { FailOpen = false }), dead);
        await Assert.ThrowsAnyAsync<RedisException>(async () => await closed.AcquireWritesAsync(stream, demand, TestContext.Current.CancellationToken));
    }
}
