using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.FanOut.Subscriptions;
using Runnel.TestKit;
using StackExchange.Redis;

namespace Runnel.FanOut.Tests;

/// <summary>
/// The one-subscription rule across replicas: two subscription managers, each with its own connection to the real
/// Redis as two FanOut processes have, share the (consumer, shard) slots.
/// </summary>
public sealed class RedisSubscriptionSlotsTests : IAsyncLifetime
{
    // A short takeover window keeps the test quick; the rule is the same at AWS's 5 s.
    private static readonly FanOutOptions Settings = new() { TakeoverSeconds = 2 };

    private readonly List<IConnectionMultiplexer> _connections = [];
    private readonly string _consumer = $"arn:aws:kinesis:us-east-1:000000000000:stream/s-{Guid.NewGuid():N}/consumer/c:1";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections)
            await c.DisposeAsync();
    }

    private async Task<SubscriptionManager> ReplicaAsync()
    {
        var redis = await ConnectionMultiplexer.ConnectAsync(await TestServers.RedisAsync());
        _connections.Add(redis);
        var options = Options.Create(Settings);
        var slots = new RedisSubscriptionSlots(redis, options, NullLogger<RedisSubscriptionSlots>.Instance);
        return new SubscriptionManager(options, TimeProvider.System, new Meters(), slots, NullLogger<SubscriptionManager>.Instance);
    }

    [Fact]
    public async Task A_second_replica_is_refused_within_the_window_then_takes_over_and_the_first_ends()
    {
        var a = await ReplicaAsync();
        var b = await ReplicaAsync();
        Assert.True(a.IsClusterWide);
        var first = await a.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct);
        var refused = await Assert.ThrowsAsync<KinesisException>(() => b.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct));
        Assert.Equal(ErrorTypes.ResourceInUse, refused.Type);
        // Another shard of the same consumer is its own slot.
        await using (await b.AcquireAsync(_consumer, 1, "shardId-000000000001", Ct))
        {
        }

        Assert.False(first.Ended.IsCancellationRequested);
        SubscriptionManager.Lease? second = null;
        await Wait.UntilAsync(async () =>
        {
            try
            {
                second = await b.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct);
                return true;
            }
            catch (KinesisException e) when (e.Type == ErrorTypes.ResourceInUse)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(10), "the takeover window to pass", TimeSpan.FromMilliseconds(200), Ct);
        await using (second!)
        {
            await Wait.UntilAsync(() => first.Ended.IsCancellationRequested, TimeSpan.FromSeconds(3), "the superseded holder to end", cancellationToken: Ct);
            Assert.Equal(ErrorTypes.ResourceInUse, first.Reason!.Type);
            // The superseded holder's release must leave its successor's slot alone.
            await first.DisposeAsync();
            var slots = new RedisSubscriptionSlots(_connections[0], Options.Create(Settings), NullLogger<RedisSubscriptionSlots>.Instance);
            Assert.Equal(second!.Holder, await slots.HolderAsync(_consumer, 0));
            await Assert.ThrowsAsync<KinesisException>(() => a.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct));
        }

        // Released: the slot is free at once, on any replica.
        await using var third = await a.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct);
        Assert.False(third.Ended.IsCancellationRequested);
    }

    [Fact]
    public async Task A_holder_that_missed_the_message_notices_within_a_second()
    {
        var a = await ReplicaAsync();
        var lease = await a.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct);
        // Another replica's claim written straight into Redis, with no pub/sub message.
        await _connections[0].GetDatabase().HashSetAsync(RedisSubscriptionSlots.SlotKey(_consumer, 0), "holder", "someone-else");
        await Wait.UntilAsync(() => lease.Ended.IsCancellationRequested, TimeSpan.FromSeconds(3), "the holder to notice", cancellationToken: Ct);
        Assert.Equal(ErrorTypes.ResourceInUse, lease.Reason!.Type);
        await lease.DisposeAsync();
        await _connections[0].GetDatabase().KeyDeleteAsync(RedisSubscriptionSlots.SlotKey(_consumer, 0));
    }

    [Fact]
    public async Task Deregistration_on_one_replica_ends_the_subscription_on_another()
    {
        var a = await ReplicaAsync();
        var b = await ReplicaAsync();
        await using var lease = await a.AcquireAsync(_consumer, 0, "shardId-000000000000", Ct);
        // b subscribes to the channels with its first claim, as a serving replica has.
        await using (await b.AcquireAsync(_consumer, 5, "shardId-000000000005", Ct))
        {
        }
        b.EndConsumer(_consumer);
        await Wait.UntilAsync(() => lease.Ended.IsCancellationRequested, TimeSpan.FromSeconds(3), "the subscription to end", cancellationToken: Ct);
        Assert.Equal(ErrorTypes.ResourceNotFound, lease.Reason!.Type);
    }
}
