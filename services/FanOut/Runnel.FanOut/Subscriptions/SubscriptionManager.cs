using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using StackExchange.Redis;

namespace Runnel.FanOut.Subscriptions;

/// <summary>
/// The live subscriptions of this FanOut process, one per (consumer, shard), and each pair's read budget.
/// AWS's rule: a second SubscribeToShard of the same consumer and shard within <see cref="FanOutOptions.TakeoverSeconds"/>
/// of the current one's start is refused with ResourceInUseException; a later one takes over, and the old one ends
/// with a ResourceInUseException event. Budgets outlive subscriptions, so reconnecting does not refill one.
///
/// Without Redis the rule holds in this process (Standalone, a single replica). With Redis
/// (<see cref="RedisSubscriptionSlots"/>) it holds across replicas: the slot's holder and start time live in Redis,
/// and a holder superseded by another replica is told over pub/sub and also notices by itself within a second.
/// </summary>
public sealed class SubscriptionManager
{
    private readonly FanOutOptions _options;
    private readonly TimeProvider _time;
    private readonly RedisSubscriptionSlots? _slots;
    private readonly ILogger? _logger;
    private readonly ConcurrentDictionary<(string ConsumerArn, int Shard), Lease> _active = new();
    private readonly ConcurrentDictionary<string, Lease> _byHolder = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string ConsumerArn, int Shard), TokenBucket> _budgets = new();
    private readonly ConcurrentDictionary<(string ConsumerArn, int Shard), long> _sentBytes = new();
    private readonly Lock _lock = new();
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _records;

    public SubscriptionManager(IOptions<FanOutOptions> options, TimeProvider time, IMeterFactory meters)
        : this(options, time, meters, null, null)
    {
    }

    public SubscriptionManager(IOptions<FanOutOptions> options, TimeProvider time, IMeterFactory meters, RedisSubscriptionSlots? slots, ILogger<SubscriptionManager>? logger)
    {
        _options = options.Value;
        _time = time;
        _slots = slots;
        _logger = logger;
        var meter = meters.Create("Runnel.FanOut");
        _bytes = meter.CreateCounter<long>("runnel.fanout.sent_bytes", "By", "Record bytes pushed to subscribers.");
        _records = meter.CreateCounter<long>("runnel.fanout.sent_records", "{record}", "Records pushed to subscribers.");
        _slots?.Attach(this);
    }

    /// <summary>True when the one-subscription rule is kept in Redis for every replica.</summary>
    public bool IsClusterWide => _slots is not null;

    /// <summary>Takes the (consumer, shard) slot in this process or throws ResourceInUse. Dispose the lease when the subscription ends.</summary>
    public Lease Acquire(string consumerArn, int shardIndex, string shardId)
    {
        var key = (consumerArn, shardIndex);
        var now = _time.GetUtcNow();
        Lease? previous;
        Lease lease;
        lock (_lock)
        {
            if (_active.TryGetValue(key, out previous) && now - previous.StartedAt < TimeSpan.FromSeconds(_options.TakeoverSeconds))
                throw InUse(consumerArn, shardId);
            lease = Register(key, now);
        }
        previous?.TakeOver();
        return lease;
    }

    /// <summary>
    /// Takes the slot for the whole cluster when Redis is configured (one script call decides), else in this process.
    /// If Redis cannot be reached the rule falls back to this process, so subscriptions keep working.
    /// </summary>
    public async Task<Lease> AcquireAsync(string consumerArn, int shardIndex, string shardId, CancellationToken ct)
    {
        if (_slots is null)
            return Acquire(consumerArn, shardIndex, shardId);
        var key = (consumerArn, shardIndex);
        var holder = Guid.NewGuid().ToString("N");
        bool granted;
        try
        {
            granted = await _slots.ClaimAsync(consumerArn, shardIndex, holder, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            _logger?.LogWarning(e, "Redis is unreachable; the subscription rule for {Consumer} on {Shard} holds in this process only", consumerArn, shardId);
            return Acquire(consumerArn, shardIndex, shardId);
        }
        if (!granted)
            throw InUse(consumerArn, shardId);
        Lease? previous;
        Lease lease;
        lock (_lock)
        {
            _active.TryGetValue(key, out previous);
            lease = Register(key, _time.GetUtcNow(), holder);
        }
        previous?.TakeOver();
        lease.StartWatch(_slots.WatchAsync(lease, lease.Ended));
        return lease;
    }

    /// <summary>Ends every subscription of a consumer (deregistration), on every replica when Redis is configured.</summary>
    public void EndConsumer(string consumerArn)
    {
        EndConsumerHere(consumerArn);
        _slots?.AnnounceDeregistered(consumerArn);
    }

    internal void EndConsumerHere(string consumerArn)
    {
        foreach (var (key, lease) in _active)
            if (key.ConsumerArn == consumerArn)
                lease.End(new KinesisException(ErrorTypes.ResourceNotFound, $"Consumer {consumerArn} was deregistered."));
    }

    /// <summary>Another replica took over the slot this holder had.</summary>
    internal void Superseded(string holder)
    {
        if (_byHolder.TryGetValue(holder, out var lease))
            lease.TakeOver();
    }

    public TokenBucket BudgetOf(string consumerArn, int shardIndex) =>
        _budgets.GetOrAdd((consumerArn, shardIndex), _ => new TokenBucket(_options.BytesPerSecondPerShard, _time));

    /// <summary>Record bytes (data + partition keys) sent to a consumer from a shard by this process.</summary>
    public long SentBytes(string consumerArn, int shardIndex) => _sentBytes.GetValueOrDefault((consumerArn, shardIndex));

    public int ActiveCount => _active.Count;

    internal void Count(string consumerArn, int shardIndex, long bytes, int records)
    {
        _sentBytes.AddOrUpdate((consumerArn, shardIndex), bytes, (_, v) => v + bytes);
        var tag = new KeyValuePair<string, object?>("consumer", consumerArn);
        _bytes.Add(bytes, tag);
        _records.Add(records, tag);
    }

    private static KinesisException InUse(string consumerArn, string shardId) =>
        KinesisException.ResourceInUse($"Another active subscription exists for consumer {consumerArn} on shard {shardId}.");

    private Lease Register((string, int) key, DateTimeOffset now, string? holder = null)
    {
        var lease = new Lease(this, key, now, holder ?? Guid.NewGuid().ToString("N"));
        _active[key] = lease;
        _byHolder[lease.Holder] = lease;
        return lease;
    }

    private async ValueTask ReleaseAsync(Lease lease)
    {
        lock (_lock)
            _active.TryRemove(new KeyValuePair<(string, int), Lease>(lease.Key, lease));
        _byHolder.TryRemove(new KeyValuePair<string, Lease>(lease.Holder, lease));
        if (_slots is not null)
        {
            try
            {
                await _slots.ReleaseAsync(lease.Key.ConsumerArn, lease.Key.Shard, lease.Holder).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // The slot then stays with this holder until its start is TakeoverSeconds old or the key expires.
                _logger?.LogWarning(e, "Could not release the subscription slot of {Consumer} in Redis", lease.Key.ConsumerArn);
            }
        }
    }

    /// <summary>One subscription's hold on its slot. <see cref="Ended"/> fires on takeover or deregistration.</summary>
    public sealed class Lease : IDisposable, IAsyncDisposable
    {
        private readonly SubscriptionManager _owner;
        private readonly CancellationTokenSource _ended = new();
        private Task? _watch;
        private int _disposed;

        internal Lease(SubscriptionManager owner, (string, int) key, DateTimeOffset startedAt, string holder)
        {
            _owner = owner;
            Key = key;
            StartedAt = startedAt;
            Holder = holder;
        }

        internal (string ConsumerArn, int Shard) Key { get; }
        public DateTimeOffset StartedAt { get; }

        /// <summary>Identifies this subscription in the cluster-wide slot.</summary>
        public string Holder { get; }

        public CancellationToken Ended => _ended.Token;

        /// <summary>Why the subscription was ended from outside; sent to the subscriber as an error event.</summary>
        public KinesisException? Reason { get; private set; }

        internal void StartWatch(Task watch) => _watch = watch;

        internal void TakeOver() =>
            End(KinesisException.ResourceInUse($"A newer subscription for consumer {Key.ConsumerArn} on this shard took over."));

        internal void End(KinesisException reason)
        {
            Reason ??= reason;
            try
            {
                _ended.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            try
            {
                await _ended.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
            }
            if (_watch is not null)
            {
                try
                {
                    await _watch.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
            // A holder that was taken over must not delete its successor's slot: the release script checks the holder.
            await _owner.ReleaseAsync(this).ConfigureAwait(false);
            _ended.Dispose();
        }
    }
}

/// <summary>
/// Bytes per second with a burst of one second's worth. Reads take what they used (possibly going into debt, since
/// a record is never split) and the next read waits until the balance is positive again.
/// </summary>
public sealed class TokenBucket(int bytesPerSecond, TimeProvider time)
{
    private readonly Lock _lock = new();
    private double _balance = bytesPerSecond;
    private long _at = time.GetTimestamp();

    public int BytesPerSecond => bytesPerSecond;

    /// <summary>Current balance (refilled up to one second's worth).</summary>
    public double Available()
    {
        lock (_lock)
        {
            Refill();
            return _balance;
        }
    }

    public void Take(long bytes)
    {
        lock (_lock)
        {
            Refill();
            _balance -= bytes;
        }
    }

    /// <summary>How long until the balance is positive; zero if it is.</summary>
    public TimeSpan UntilPositive()
    {
        lock (_lock)
        {
            Refill();
            return _balance > 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - _balance) / bytesPerSecond);
        }
    }

    private void Refill()
    {
        var now = time.GetTimestamp();
        var elapsed = time.GetElapsedTime(_at, now).TotalSeconds;
        _at = now;
        _balance = Math.Min(bytesPerSecond, _balance + elapsed * bytesPerSecond);
    }
}
