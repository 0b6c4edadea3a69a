namespace Runnel.Ingest.Throttling.Buckets;

/// <summary>
/// Token buckets in this process's memory (Standalone, single replica), on a <see cref="TimeProvider"/>
/// clock. One lock makes each call atomic, like the Redis script.
/// </summary>
internal sealed class InProcessTokenBuckets(TimeProvider time) : ITokenBuckets
{
    // Expired keys are swept after this many calls, so memory follows the number of busy shards.
    private const int SweepEvery = 4096;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly long _origin = time.GetTimestamp();
    private int _callsSinceSweep;

    private sealed class Entry
    {
        public BucketState State;
        public double ExpiresAtMs;
    }

    internal int KeyCount
    {
        get
        {
            lock (_gate)
            {
                var now = NowMs();
                return _entries.Values.Count(e => e.ExpiresAtMs > now);
            }
        }
    }

    public ValueTask<int[]> AcquireAsync(IReadOnlyList<BucketDemand> demands, CancellationToken cancellationToken)
    {
        var granted = new int[demands.Count];
        lock (_gate)
        {
            var now = NowMs();
            for (var i = 0; i < demands.Count; i++)
            {
                var d = demands[i];
                var entry = Load(d.Key, d.CountRate, d.ByteRate, now);
                granted[i] = entry.State.Take(d.CountRate, d.ByteRate, d.CumulativeBytes, now);
                entry.ExpiresAtMs = now + entry.State.IdleLifetimeMs(d.CountRate, d.ByteRate, now);
            }

            MaybeSweep(now);
        }

        return ValueTask.FromResult(granted);
    }

    public ValueTask ChargeAsync(BucketCharge charge, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = NowMs();
            var entry = Load(charge.Key, charge.CountRate, charge.ByteRate, now);
            entry.State.Charge(charge.ByteRate, charge.Bytes, charge.PenaltyThreshold, charge.Penalty, now);
            entry.ExpiresAtMs = now + entry.State.IdleLifetimeMs(charge.CountRate, charge.ByteRate, now);
            MaybeSweep(now);
        }

        return ValueTask.CompletedTask;
    }

    private Entry Load(string key, Rate count, Rate bytes, double now)
    {
        if (_entries.TryGetValue(key, out var entry) && entry.ExpiresAtMs > now)
        {
            entry.State.Refill(count, bytes, now);
            return entry;
        }

        entry = new Entry { State = BucketState.Full(count, bytes, now) };
        _entries[key] = entry;
        return entry;
    }

    private void MaybeSweep(double now)
    {
        if (++_callsSinceSweep < SweepEvery)
        {
            return;
        }

        _callsSinceSweep = 0;
        foreach (var (key, entry) in _entries)
        {
            if (entry.ExpiresAtMs <= now)
            {
                _entries.Remove(key);
            }
        }
    }

    private double NowMs() => time.GetElapsedTime(_origin).TotalMilliseconds;
}
