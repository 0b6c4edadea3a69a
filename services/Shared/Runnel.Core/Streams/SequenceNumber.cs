using System.Globalization;

namespace Runnel.Core.Streams;

/// <summary>
/// A Kinesis sequence number: a decimal string, unique and strictly increasing within a shard.
/// Layout of the 128-bit value (high to low):
///   8 bits  format version (1), so every number has 37-39 digits like AWS's long ones;
///   32 bits shard index, so a child shard (always created with a higher index) sorts after its parents;
///   24 bits reserved, zero;
///   64 bits ordinal of the record within its shard's log (0-based, gap-free).
/// </summary>
public readonly record struct SequenceNumber(int ShardIndex, ulong Ordinal) : IComparable<SequenceNumber>
{
    private const int VersionShift = 120;
    private const int ShardShift = 88;
    private const byte FormatVersion = 1;

    public UInt128 Value =>
        ((UInt128)FormatVersion << VersionShift) | ((UInt128)(uint)ShardIndex << ShardShift) | Ordinal;

    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);

    public int CompareTo(SequenceNumber other) => Value.CompareTo(other.Value);

    /// <summary>AWS's pattern for a sequence number: <c>0|([1-9]\d{0,128})</c>.</summary>
    public static bool IsWellFormed(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 129)
            return false;
        if (text == "0")
            return true;
        if (text[0] is < '1' or > '9')
            return false;
        foreach (var c in text)
            if (c is < '0' or > '9')
                return false;
        return true;
    }

    /// <summary>Decodes a number this platform issued; false for a well-formed number it could not have issued.</summary>
    public static bool TryParse(string? text, out SequenceNumber value)
    {
        value = default;
        if (!IsWellFormed(text) || !UInt128.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var raw))
            return false;
        if ((byte)(raw >> VersionShift) != FormatVersion || ((raw >> 64) & 0xFF_FFFF) != 0)
            return false;
        value = new SequenceNumber((int)(uint)(raw >> ShardShift), (ulong)raw);
        return true;
    }
}
