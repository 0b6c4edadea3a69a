using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Runnel.FanOut.Subscriptions;

/// <summary>
/// The (consumer, shard) subscription slots of every FanOut replica, in Redis. A slot is a hash
/// <c>runnel:efo:sub:{consumerArn}:shard</c> holding the current subscription's holder id and start time (the server's
/// clock, so replicas need not agree on time). Claiming is one script: refused while the current holder started less
/// than <see cref="FanOutOptions.TakeoverSeconds"/> ago, otherwise the new holder replaces it and the old one is told
/// on the <see cref="TakeoverChannel"/>. Because a pub/sub message can be lost (a reconnect), each holder also reads its
/// slot every <see cref="WatchInterval"/> and ends itself once another holder owns it.
/// </summary>
public sealed class RedisSubscriptionSlots(IConnectionMultiplexer redis, IOptions<FanOutOptions> options, ILogger<RedisSubscriptionSlots> logger)
{
    public static readonly RedisChannel TakeoverChannel = RedisChannel.Literal("runnel:efo:takeover");
    public static readonly RedisChannel DeregisteredChannel = RedisChannel.Literal("runnel:efo:deregistered");

    /// <summary>How late a superseded holder notices without the pub/sub message.</summary>
    public static readonly TimeSpan WatchInterval = TimeSpan.FromSeconds(1);

    // KEYS[1] slot; ARGV: holder, takeover window ms, key lifetime ms. Returns {1, previous holder or ''} or {0, holder}.
    private const string ClaimScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local cur = redis.call('HMGET', KEYS[1], 'holder', 'started')
        if cur[1] and cur[1] ~= ARGV[1] and cur[2] and now - tonumber(cur[2]) < tonumber(ARGV[2]) then
          return {0, cur[1]}
        end
        redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'started', now)
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return {1, cur[1] or ''}
        """;

    private const string ReleaseScript = """
        if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private readonly FanOutOptions _options = options.Value;
    private SubscriptionManager? _manager;
    private Task? _subscribed;
    private readonly Lock _lock = new();

    public static RedisKey SlotKey(string consumerArn, int shardIndex) => $"runnel:efo:sub:{{{consumerArn}}}:{shardIndex}";

    internal void Attach(SubscriptionManager manager) => _manager = manager;

    /// <summary>True if <paramref name="holder"/> now holds the slot (and any previous holder was told to end).</summary>
    public async Task<bool> ClaimAsync(string consumerArn, int shardIndex, string holder, CancellationToken ct)
    {
        await EnsureSubscribedAsync().WaitAsync(ct).ConfigureAwait(false);
        var db = redis.GetDatabase();
        // The slot outlives the longest subscription, so a crashed holder's entry goes away by itself.
        var lifetimeMs = (_options.SubscriptionSeconds + _options.TakeoverSeconds + 60) * 1000L;
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(ClaimScript, [SlotKey(consumerArn, shardIndex)],
            [holder, _options.TakeoverSeconds * 1000L, lifetimeMs]).WaitAsync(ct).ConfigureAwait(false))!;
        if ((long)result[0] == 0)
            return false;
        var previous = (string?)result[1];
        if (!string.IsNullOrEmpty(previous) && previous != holder)
            await redis.GetSubscriber().PublishAsync(TakeoverChannel, previous).ConfigureAwait(false);
        return true;
    }

    public async Task ReleaseAsync(string consumerArn, int shardIndex, string holder) =>
        await redis.GetDatabase().ScriptEvaluateAsync(ReleaseScript, [SlotKey(consumerArn, shardIndex)], [holder]).ConfigureAwait(false);

    /// <summary>The current holder of a slot, or null when it is free.</summary>
    public async Task<string?> HolderAsync(string consumerArn, int shardIndex) =>
        await redis.GetDatabase().HashGetAsync(SlotKey(consumerArn, shardIndex), "holder").ConfigureAwait(false);

    /// <summary>Reads the lease's slot every second until it ends; ends it when another holder owns the slot.</summary>
    internal async Task WatchAsync(SubscriptionManager.Lease lease, CancellationToken ended)
    {
        while (!ended.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(WatchInterval, ended).ConfigureAwait(false);
                var holder = await HolderAsync(lease.Key.ConsumerArn, lease.Key.Shard).WaitAsync(ended).ConfigureAwait(false);
                if (holder is not null && holder != lease.Holder)
                {
                    lease.TakeOver();
                    return;
                }
            }
            catch (OperationCanceledException) when (ended.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                logger.LogDebug(e, "Could not read the subscription slot of {Consumer}", lease.Key.ConsumerArn);
            }
        }
    }

    /// <summary>Tells every replica to end a deregistered consumer's subscriptions.</summary>
    internal void AnnounceDeregistered(string consumerArn)
    {
        _ = redis.GetSubscriber().PublishAsync(DeregisteredChannel, consumerArn).ContinueWith(
            t => logger.LogWarning(t.Exception, "Could not announce the deregistration of {Consumer}", consumerArn),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    private Task EnsureSubscribedAsync()
    {
        lock (_lock)
        {
            if (_subscribed is { IsFaulted: false, IsCanceled: false })
                return _subscribed;
            var subscriber = redis.GetSubscriber();
            _subscribed = Task.WhenAll(
                subscriber.SubscribeAsync(TakeoverChannel, (_, holder) =>
                {
                    if (!holder.IsNullOrEmpty)
                        _manager?.Superseded(holder!);
                }),
                subscriber.SubscribeAsync(DeregisteredChannel, (_, arn) =>
                {
                    if (!arn.IsNullOrEmpty)
                        _manager?.EndConsumerHere(arn!);
                }));
            return _subscribed;
        }
    }
}
