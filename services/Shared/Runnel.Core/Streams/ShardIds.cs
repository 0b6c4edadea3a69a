using System.Globalization;

namespace Runnel.Core.Streams;

/// <summary>Shard ids as Kinesis prints them: <c>shardId-</c> and a 12-digit zero-padded index.</summary>
public static class ShardIds
{
    private const string Prefix = "shardId-";

    public static string Format(int index) => Prefix + index.ToString("D12", CultureInfo.InvariantCulture);

    /// <summary>
    /// Resolves a shard id by its trailing number, as Kinesis does: the digits after the last <c>-</c> (or the whole
    /// text when it has none) name the index, whatever comes before them (<c>shardId-000000000005</c>,
    /// <c>shardId-5</c>, <c>shard-5</c>, <c>foo-000000000005</c> and <c>5</c> are all shard 5).
    /// </summary>
    public static bool TryParse(string? text, out int index)
    {
        index = -1;
        if (string.IsNullOrEmpty(text) || text.Length > 128)
            return false;
        var digits = text.AsSpan(text.LastIndexOf('-') + 1);
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
