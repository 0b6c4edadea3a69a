namespace Runnel.Ingest.Throttling.Buckets;

/// <summary>A refill rate and the capacity it fills up to. A rate of 0 or less means unlimited.</summary>
internal readonly record struct Rate(double PerSecond, double Burst)
{
    public static readonly Rate Unlimited = new(0, 0);

    public bool IsLimited => PerSecond > 0;

    /// <summary>A bucket of <paramref name="burstSeconds"/> of <paramref name="perSecond"/>, holding at least one unit.</summary>
    public static Rate Of(double perSecond, double burstSeconds) =>
        perSecond > 0 ? new Rate(perSecond, Math.Max(1, perSecond * burstSeconds)) : Unlimited;
}

/// <summary>
/// One key holds two buckets (a count and a byte bucket) and a penalty deadline. The demand is a
/// sequence of items: admitting the first k items takes k count tokens and
/// <c>CumulativeBytes[k-1]</c> byte tokens; the longest admissible prefix is granted. Nothing is
/// admitted while a penalty runs.
/// </summary>
internal sealed record BucketDemand(string Key, Rate CountRate, Rate ByteRate, long[] CumulativeBytes);

/// <summary>
/// Takes <paramref name="Bytes"/> from the byte bucket unconditionally (it may go negative), and when
/// <paramref name="Bytes"/> reaches <paramref name="PenaltyThreshold"/> (&gt; 0) blocks the key for
/// <paramref name="Penalty"/>.
/// </summary>
internal sealed record BucketCharge(string Key, Rate CountRate, Rate ByteRate, long Bytes, long PenaltyThreshold, TimeSpan Penalty);

/// <summary>
/// The store of token buckets. Implementations must give identical answers for identical histories:
/// refill linear in elapsed time up to the burst, an absent or expired key is a full bucket, all
/// demands of one call are evaluated atomically in order.
/// </summary>
internal interface ITokenBuckets
{
    /// <summary>Evaluates every demand in one atomic step (one round trip); answers the granted prefix length of each.</summary>
    ValueTask<int[]> AcquireAsync(IReadOnlyList<BucketDemand> demands, CancellationToken cancellationToken);

    ValueTask ChargeAsync(BucketCharge charge, CancellationToken cancellationToken);
}

/// <summary>The state kept under one key, and the rules shared by both stores (the Lua script mirrors them).</summary>
internal struct BucketState
{
    // Refill arithmetic in doubles can land a hair below a whole token (5 calls/s for exactly 1 s).
    public const double Tolerance = 1e-6;

    public double Count;
    public double Bytes;
    public double UpdatedMs;
    public double PenaltyUntilMs;

    public static BucketState Full(Rate count, Rate bytes, double nowMs) =>
        new() { Count = count.Burst, Bytes = bytes.Burst, UpdatedMs = nowMs, PenaltyUntilMs = 0 };

    public void Refill(Rate count, Rate bytes, double nowMs)
    {
        var elapsed = Math.Max(0, nowMs - UpdatedMs);
        if (count.IsLimited)
        {
            Count = Math.Min(count.Burst, Count + elapsed * count.PerSecond / 1000);
        }

        if (bytes.IsLimited)
        {
            Bytes = Math.Min(bytes.Burst, Bytes + elapsed * bytes.PerSecond / 1000);
        }

        UpdatedMs = Math.Max(UpdatedMs, nowMs);
    }

    public int Take(Rate count, Rate bytes, long[] cumulativeBytes, double nowMs)
    {
        if (PenaltyUntilMs > nowMs)
        {
            return 0;
        }

        var k = 0;
        while (k < cumulativeBytes.Length &&
               (!count.IsLimited || k + 1 <= Count + Tolerance) &&
               (!bytes.IsLimited || cumulativeBytes[k] <= Bytes + Tolerance))
        {
            k++;
        }

        // An item larger than the whole byte burst (a record above 1 MiB on a stream whose maximum
        // record size was raised) could never fit: admit it alone when the byte bucket is full, and
        // let the debt hold back the shard for as long as its size takes to refill.
        if (k == 0 && cumulativeBytes.Length > 0 && bytes.IsLimited && cumulativeBytes[0] > bytes.Burst &&
            Bytes >= bytes.Burst - Tolerance && (!count.IsLimited || 1 <= Count + Tolerance))
        {
            k = 1;
        }

        if (k > 0)
        {
            if (count.IsLimited)
            {
                Count -= k;
            }

            if (bytes.IsLimited)
            {
                Bytes -= cumulativeBytes[k - 1];
            }
        }

        return k;
    }

    public void Charge(Rate bytes, long charged, long penaltyThreshold, TimeSpan penalty, double nowMs)
    {
        if (bytes.IsLimited)
        {
            Bytes -= charged;
        }

        if (penaltyThreshold > 0 && charged >= penaltyThreshold)
        {
            PenaltyUntilMs = Math.Max(PenaltyUntilMs, nowMs + penalty.TotalMilliseconds);
        }
    }

    /// <summary>
    /// After this long the key is indistinguishable from an absent one (both buckets full, no
    /// penalty), so it may expire. A second of slack keeps rounding from dropping a key early.
    /// </summary>
    public readonly double IdleLifetimeMs(Rate count, Rate bytes, double nowMs)
    {
        var ms = Math.Max(0, PenaltyUntilMs - nowMs);
        if (count.IsLimited)
        {
            ms = Math.Max(ms, (count.Burst - Count) * 1000 / count.PerSecond);
        }

        if (bytes.IsLimited)
        {
            ms = Math.Max(ms, (bytes.Burst - Bytes) * 1000 / bytes.PerSecond);
        }

        return ms + 1000;
    }
}
