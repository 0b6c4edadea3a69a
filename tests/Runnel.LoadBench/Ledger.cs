namespace Runnel.LoadBench;

/// <summary>
/// Which records each producer had acknowledged, and which of them a drain read back. A producer's bits are
/// written only by that producer's task while it puts; the drain starts after every producer finished, and marks
/// what it reads with atomic operations because several shard readers can meet records of one producer.
/// </summary>
public sealed class Ledger(int producers)
{
    private readonly long[][] _acked = [.. Enumerable.Range(0, producers).Select(_ => new long[1024])];
    private long[][]? _seen;

    public int Producers => producers;

    public long AckedCount { get; private set; }

    public void MarkAcked(int producer, ulong sequence)
    {
        var bits = _acked[producer];
        var word = (int)(sequence >> 6);
        if (word >= bits.Length)
        {
            Array.Resize(ref bits, Math.Max(bits.Length * 2, word + 1));
            _acked[producer] = bits;
        }
        bits[word] |= 1L << (int)(sequence & 63);
    }

    public bool IsAcked(int producer, ulong sequence)
    {
        if ((uint)producer >= (uint)producers)
            return false;
        var bits = _acked[producer];
        var word = (long)(sequence >> 6);
        return word < bits.Length && (bits[word] & (1L << (int)(sequence & 63))) != 0;
    }

    /// <summary>Called once the puts are over: counts the acknowledged records and sizes the read marks.</summary>
    public void Seal()
    {
        long total = 0;
        _seen = new long[producers][];
        for (var p = 0; p < producers; p++)
        {
            foreach (var word in _acked[p])
                total += long.PopCount(word);
            _seen[p] = new long[_acked[p].Length];
        }
        AckedCount = total;
    }

    /// <summary>Marks a record as read; false when it was read before (a duplicate).</summary>
    public bool MarkSeen(int producer, ulong sequence)
    {
        var bits = _seen![producer];
        var word = (int)(sequence >> 6);
        var mask = 1L << (int)(sequence & 63);
        return (Interlocked.Or(ref bits[word], mask) & mask) == 0;
    }

    /// <summary>Acknowledged records never read.</summary>
    public long CountMissing()
    {
        long missing = 0;
        for (var p = 0; p < producers; p++)
            for (var w = 0; w < _acked[p].Length; w++)
                missing += long.PopCount(_acked[p][w] & ~_seen![p][w]);
        return missing;
    }
}
