using System.Formats.Cbor;

namespace Runnel.TestKit;

/// <summary>
/// Reads a CBOR answer into plain values to assert on: maps become dictionaries, arrays lists, integers longs, byte
/// strings arrays and a tagged item a (tag, value) pair, so a test can check that a timestamp carries tag 1. Items of
/// other kinds read as null.
/// </summary>
public static class CborDocument
{
    /// <summary>Reads a document whose root is a map; an empty answer (an operation without output) is an empty map.</summary>
    public static Dictionary<string, object?> Read(ReadOnlyMemory<byte> bytes) =>
        bytes.IsEmpty ? [] : (Dictionary<string, object?>)ReadValue(new CborReader(bytes, CborConformanceMode.Lax))!;

    public static object? ReadValue(CborReader r)
    {
        switch (r.PeekState())
        {
            case CborReaderState.StartMap:
                r.ReadStartMap();
                var map = new Dictionary<string, object?>();
                while (r.PeekState() != CborReaderState.EndMap)
                    map[r.ReadTextString()] = ReadValue(r);
                r.ReadEndMap();
                return map;
            case CborReaderState.StartArray:
                r.ReadStartArray();
                var list = new List<object?>();
                while (r.PeekState() != CborReaderState.EndArray)
                    list.Add(ReadValue(r));
                r.ReadEndArray();
                return list;
            case CborReaderState.Tag:
                return (r.ReadTag(), ReadValue(r));
            case CborReaderState.TextString:
                return r.ReadTextString();
            case CborReaderState.ByteString:
                return r.ReadByteString();
            case CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger:
                return r.ReadInt64();
            case CborReaderState.Boolean:
                return r.ReadBoolean();
            default:
                r.SkipValue();
                return null;
        }
    }
}
