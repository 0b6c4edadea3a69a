using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Runnel.Core.Hashing;

/// <summary>The 128-bit hash-key space Kinesis routes by: MD5 of the partition key, read big-endian.</summary>
public static class HashKeys
{
    public const int MaxPartitionKeyLength = 256;

    public static UInt128 FromPartitionKey(string partitionKey)
    {
        // 256 chars of UTF-16 encode to at most 768 UTF-8 bytes, so a stack buffer always suffices.
        Span<byte> utf8 = stackalloc byte[MaxPartitionKeyLength * 3];
        var length = Encoding.UTF8.GetBytes(partitionKey, utf8);
        Span<byte> digest = stackalloc byte[16];
        PartitionKeyMd5.Hash(utf8[..length], digest);
        return BinaryPrimitives.ReadUInt128BigEndian(digest);
    }

    /// <summary>Parses an ExplicitHashKey: a plain decimal integer in 0..2^128-1.</summary>
    public static bool TryParse(string? text, out UInt128 value)
    {
        value = default;
        if (string.IsNullOrEmpty(text) || text.Length > 39)
            return false;
        foreach (var c in text)
            if (c is < '0' or > '9')
                return false;
        return UInt128.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    public static string Format(UInt128 value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>An inclusive range of the hash-key space owned by one shard.</summary>
public readonly record struct HashKeyRange(UInt128 Start, UInt128 End)
{
    public static HashKeyRange Full => new(UInt128.Zero, UInt128.MaxValue);

    public bool Contains(UInt128 key) => key >= Start && key <= End;

    /// <summary>
    /// Splits the whole space into <paramref name="count"/> contiguous ranges the way Kinesis does at
    /// creation: equal widths of floor(2^128 / count), the last range absorbing the remainder.
    /// </summary>
    public static IReadOnlyList<HashKeyRange> EvenSplit(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (count == 1)
            return [Full];
        // 2^128 / count computed as (2^128 - 1) / count, corrected when count divides 2^128 exactly.
        var width = UInt128.MaxValue / (UInt128)count;
        if (UInt128.MaxValue % (UInt128)count == (UInt128)(count - 1))
            width++;
        var ranges = new HashKeyRange[count];
        var start = UInt128.Zero;
        for (var i = 0; i < count; i++)
        {
            var end = i == count - 1 ? UInt128.MaxValue : start + width - 1;
            ranges[i] = new HashKeyRange(start, end);
            start = end + 1;
        }
        return ranges;
    }
}
