using System.Formats.Cbor;

namespace Runnel.Core.Wire;

/// <summary>CBOR integers as longs: the encoding reaches 2^64 either way, beyond a long they clamp to its bounds.</summary>
public static class CborIntegers
{
    /// <summary>Reads an unsigned or negative integer item; clamps instead of throwing, as JSON numbers are read.</summary>
    public static long ReadClamped(CborReader reader)
    {
        if (reader.PeekState() == CborReaderState.NegativeInteger)
        {
            var magnitude = reader.ReadCborNegativeIntegerRepresentation();
            return magnitude > long.MaxValue ? long.MinValue : -1 - (long)magnitude;
        }
        var value = reader.ReadUInt64();
        return value > long.MaxValue ? long.MaxValue : (long)value;
    }
}
