using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;

namespace Runnel.FanOut.Subscriptions;

/// <summary>
/// The live subscriptions of this FanOut process, one per (consumer, shard), and each pair's read budget.
/// AWS's rule: a second SubscribeToShard of the same consumer and shard within <see cref="FanOutOptions.TakeoverSeconds"/>
/// of the current one's start is refused with ResourceInUseException; a later one takes over, and the old one ends
/// with a ResourceInUseException event. Budgets outlive subscriptions, so reconnecting does not refill one.
///
/// Single-process by design: when several FanOut replicas run, the rule holds per replica (see docs/architecture.md).
/// </summary>
public sealed class SubscriptionManager(IOptions<FanOutOptions> options, TimeProvider time, IMeterFactory meters)
{
    private readonly FanOutOptions _options = options.Value;
    private readonly ConcurrentDictionary<(string ConsumerArn, int Shard), Lease> _active = new();
    private readonly ConcurrentDictionary<(string ConsumerArn, int Shard), TokenBucket> _budgets = new();
    private readonly ConcurrentDictionary<(string ConsumerArn, int Shard), long> _sentBytes = new();
    private readonly Lock _lock = new();
    private readonly Counter<long> _bytes = meters.Create("Runnel.FanOut").CreateCounter<long>("runnel.fanout.sent_bytes", "By", "Record bytes pushed to subscribers.");
    private readonly Counter<long> _records = meters.Create("Runnel.FanOut").CreateCounter<long>("runnel.fanout.sent_records", "{record}", "Records pushed to subscribers.");

    /// <summary>Takes the (consumer, shard) slot or throws ResourceInUse. Dispose the lease when the subscription ends.</summary>
    public Lease Acquire(string consumerArn, int shardIndex, string shardId)
    {
        var key = (consumerArn, shardIndex);
        var now = time.GetUtcNow();
        Lease? previous;
        Lease lease;
        lock (_lock)
        {
            if (_active.TryGetValue(key, out previous) && now - previous.StartedAt < TimeSpan.FromSeconds(_options.TakeoverSeconds))
                throw KinesisException.ResourceInUse($"Another active subscription exists for consumer {consumerArn} on shard {shardId}.");
            lease = new Lease(this, key, now);
            _active[key] = lease;
        }
        previous?.TakeOver();
        return lease;
    }

    /// <summary>Ends every subscription of a consumer (deregistration).</summary>
    public void EndConsumer(string consumerArn)
    {
        foreach (var (key, lease) in _active)
            if (key.ConsumerArn == consumerArn)
                lease.End(new KinesisException(Core.Errors.ErrorTypes.ResourceNotFound, $"Consumer {consumerArn} was deregistered."));
    }

    public TokenBucket BudgetOf(string consumerArn, int shardIndex) =>
        _budgets.GetOrAdd((consumerArn, shardIndex), _ => new TokenBucket(_options.BytesPerSecondPerShard, time));

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

    private void Release(Lease lease)
    {
        lock (_lock)
            _active.TryRemove(new KeyValuePair<(string, int), Lease>(lease.Key, lease));
    }

    /// <summary>One subscription's hold on its slot. <see cref="Ended"/> fires on takeover or deregistration.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly SubscriptionManager _owner;
        private readonly CancellationTokenSource _ended = new();

        internal Lease(SubscriptionManager owner, (string, int) key, DateTimeOffset startedAt)
        {
            _owner = owner;
            Key = key;
            StartedAt = startedAt;
        }

        internal (string ConsumerArn, int Shard) Key { get; }
        public DateTimeOffset StartedAt { get; }
        public CancellationToken Ended => _ended.Token;

        /// <summary>Why the subscription was ended from outside; sent to the subscriber as an error event.</summary>
        public KinesisException? Reason { get; private set; }

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

        public void Dispose()
        {
            _owner.Release(this);
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
