using System.Globalization;

namespace Runnel.Core.Streams;

/// <summary>Shard ids as Kinesis prints them: <c>shardId-</c> and a 12-digit zero-padded index.</summary>
public static class ShardIds
{
    private const string Prefix = "shardId-";

    public static string Format(int index) => Prefix + index.ToString("D12", CultureInfo.InvariantCulture);

    /// <summary>
    /// Accepts the canonical form and, as Kinesis does, a bare or shorter number after the prefix
    /// (<c>shardId-1</c>, <c>1</c>).
    /// </summary>
    public static bool TryParse(string? text, out int index)
    {
        index = -1;
        if (string.IsNullOrEmpty(text) || text.Length > 128)
            return false;
        var digits = text.StartsWith(Prefix, StringComparison.Ordinal) ? text.AsSpan(Prefix.Length) : text.AsSpan();
        if (digits.IsEmpty || digits.Length > 20)
            return false;
        foreach (var c in digits)
            if (c is < '0' or > '9')
                return false;
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > int.MaxValue)
            return false;
        index = (int)value;
        return true;
    }
}
