using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Runnel.Core.Errors;
using Runnel.FanOut.Subscriptions;

namespace Runnel.FanOut.Tests;

public sealed class SubscriptionManagerTests
{
    private const string Consumer = "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1";
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

    private SubscriptionManager Create() => new(Options.Create(new FanOutOptions()), _time, new Meters());

    [Fact]
    public void A_second_subscription_within_5_seconds_is_ResourceInUse_and_one_after_takes_over()
    {
        var manager = Create();
        using var first = manager.Acquire(Consumer, 0, "shardId-000000000000");
        _time.Advance(TimeSpan.FromSeconds(4.9));
        var refused = Assert.Throws<KinesisException>(() => manager.Acquire(Consumer, 0, "shardId-000000000000"));
        Assert.Equal(ErrorTypes.ResourceInUse, refused.Type);
        Assert.False(first.Ended.IsCancellationRequested);

        _time.Advance(TimeSpan.FromSeconds(0.1));
        using var second = manager.Acquire(Consumer, 0, "shardId-000000000000");
        Assert.True(first.Ended.IsCancellationRequested);
        Assert.Equal(ErrorTypes.ResourceInUse, first.Reason!.Type);
        Assert.False(second.Ended.IsCancellationRequested);
    }

    [Fact]
    public void Other_shards_and_other_consumers_are_independent_and_a_released_slot_is_free()
    {
        var manager = Create();
        using var a = manager.Acquire(Consumer, 0, "shardId-000000000000");
        using var b = manager.Acquire(Consumer, 1, "shardId-000000000001");
        using var c = manager.Acquire(Consumer + "x", 0, "shardId-000000000000");
        Assert.Equal(3, manager.ActiveCount);
        var d = manager.Acquire(Consumer + "y", 0, "shardId-000000000000");
        d.Dispose();
        using var again = manager.Acquire(Consumer + "y", 0, "shardId-000000000000");
        Assert.Equal(4, manager.ActiveCount);
    }

    [Fact]
    public void Deregistration_ends_every_subscription_of_the_consumer()
    {
        var manager = Create();
        using var a = manager.Acquire(Consumer, 0, "shardId-000000000000");
        using var other = manager.Acquire(Consumer + "x", 0, "shardId-000000000000");
        manager.EndConsumer(Consumer);
        Assert.True(a.Ended.IsCancellationRequested);
        Assert.Equal(ErrorTypes.ResourceNotFound, a.Reason!.Type);
        Assert.False(other.Ended.IsCancellationRequested);
    }

    [Fact]
    public void The_budget_is_2_MiB_per_second_per_consumer_and_shard()
    {
        var manager = Create();
        var budget = manager.BudgetOf(Consumer, 0);
        Assert.Same(budget, manager.BudgetOf(Consumer, 0));
        Assert.NotSame(budget, manager.BudgetOf(Consumer + "x", 0));
        Assert.Equal(2 * 1024 * 1024, budget.Available());
        budget.Take(3 * 1024 * 1024); // one big read may go into debt
        Assert.Equal(TimeSpan.FromSeconds(0.5 + 1.0 / (2 * 1024 * 1024)), budget.UntilPositive());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1024 * 1024, budget.Available());
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(2 * 1024 * 1024, budget.Available()); // the burst is capped at one second's worth
    }
}

internal sealed class Meters : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(options);
        _meters.Add(meter);
        return meter;
    }

    public void Dispose() => _meters.ForEach(m => m.Dispose());
}
