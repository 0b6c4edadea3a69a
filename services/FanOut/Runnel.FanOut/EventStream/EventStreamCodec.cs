using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Runnel.FanOut.EventStream;

/// <summary>Value types of an event-stream header, numbered as on the wire.</summary>
public enum EventHeaderType : byte
{
    BoolTrue = 0,
    BoolFalse = 1,
    Byte = 2,
    Int16 = 3,
    Int32 = 4,
    Int64 = 5,
    Bytes = 6,
    String = 7,
    Timestamp = 8,
    Uuid = 9,
}

/// <summary>
/// One header. Value is a bool, sbyte, short, int, long, byte[], string, DateTimeOffset (timestamp, ms precision)
/// or Guid, matching <see cref="Type"/>.
/// </summary>
public sealed record EventHeader(string Name, EventHeaderType Type, object Value)
{
    public static EventHeader String(string name, string value) => new(name, EventHeaderType.String, value);
}

public sealed record EventMessage(IReadOnlyList<EventHeader> Headers, ReadOnlyMemory<byte> Payload)
{
    public string? HeaderString(string name) => Headers.FirstOrDefault(h => h.Name == name)?.Value as string;
}

/// <summary>
/// The AWS event-stream binary framing (application/vnd.amazon.eventstream), all integers big-endian:
///   prelude   u32 total length (whole message, CRCs included), u32 headers length, u32 CRC32 of those 8 bytes
///   headers   per header: u8 name length, name (UTF-8), u8 type, value
///             (bool: none; byte 1; int16 2; int32 4; int64 8; bytes/string: u16 length + bytes; timestamp: i64 ms; uuid 16)
///   payload   total - headers - 16 bytes
///   trailer   u32 CRC32 of everything before it (prelude included)
/// CRC32 is the IEEE 802.3 polynomial (as zlib's crc32).
/// </summary>
public static class EventStreamCodec
{
    public const int PreludeSize = 12;
    public const int TrailerSize = 4;
    public const int Overhead = PreludeSize + TrailerSize;

    /// <summary>The wire protocol caps a message at 16 MiB and its headers at 128 KiB.</summary>
    public const int MaxMessageSize = 16 * 1024 * 1024;
    public const int MaxHeadersSize = 128 * 1024;

    public static byte[] Encode(IReadOnlyList<EventHeader> headers, ReadOnlySpan<byte> payload)
    {
        var headersSize = 0;
        foreach (var h in headers)
            headersSize += HeaderSize(h);
        if (headersSize > MaxHeadersSize)
            throw new ArgumentException("Event headers exceed 128 KiB.", nameof(headers));
        var total = Overhead + headersSize + payload.Length;
        if (total > MaxMessageSize)
            throw new ArgumentException("An event message exceeds 16 MiB.", nameof(payload));
        var message = new byte[total];
        var span = message.AsSpan();
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)total);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], (uint)headersSize);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], Crc32.HashToUInt32(span[..8]));
        var at = PreludeSize;
        foreach (var h in headers)
            at += WriteHeader(span[at..], h);
        payload.CopyTo(span[at..]);
        at += payload.Length;
        BinaryPrimitives.WriteUInt32BigEndian(span[at..], Crc32.HashToUInt32(span[..at]));
        return message;
    }

    /// <summary>Total length of the message starting at <paramref name="prelude"/> (needs its first 4 bytes).</summary>
    public static int ReadTotalLength(ReadOnlySpan<byte> prelude) => checked((int)BinaryPrimitives.ReadUInt32BigEndian(prelude));

    /// <summary>Decodes exactly one whole message; throws <see cref="FormatException"/> on a bad length or CRC.</summary>
    public static EventMessage Decode(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        if (span.Length < Overhead)
            throw new FormatException("An event message is at least 16 bytes.");
        var total = BinaryPrimitives.ReadUInt32BigEndian(span);
        var headersSize = BinaryPrimitives.ReadUInt32BigEndian(span[4..]);
        if (BinaryPrimitives.ReadUInt32BigEndian(span[8..]) != Crc32.HashToUInt32(span[..8]))
            throw new FormatException("Event prelude CRC mismatch.");
        if (total != span.Length || total > MaxMessageSize || headersSize > MaxHeadersSize || headersSize > total - Overhead)
            throw new FormatException("Event message lengths are inconsistent.");
        var end = (int)total - TrailerSize;
        if (BinaryPrimitives.ReadUInt32BigEndian(span[end..]) != Crc32.HashToUInt32(span[..end]))
            throw new FormatException("Event message CRC mismatch.");
        var headers = new List<EventHeader>();
        var at = PreludeSize;
        var headersEnd = PreludeSize + (int)headersSize;
        while (at < headersEnd)
            headers.Add(ReadHeader(span[..headersEnd], ref at));
        if (at != headersEnd)
            throw new FormatException("Event headers overrun their length.");
        return new EventMessage(headers, message[headersEnd..end]);
    }

    private static int HeaderSize(EventHeader h)
    {
        var nameBytes = Encoding.UTF8.GetByteCount(h.Name);
        if (nameBytes is 0 or > 255)
            throw new ArgumentException("A header name has 1 to 255 UTF-8 bytes.", nameof(h));
        return 2 + nameBytes + h.Type switch
        {
            EventHeaderType.BoolTrue or EventHeaderType.BoolFalse => 0,
            EventHeaderType.Byte => 1,
            EventHeaderType.Int16 => 2,
            EventHeaderType.Int32 => 4,
            EventHeaderType.Int64 or EventHeaderType.Timestamp => 8,
            EventHeaderType.Uuid => 16,
            EventHeaderType.Bytes => 2 + CheckedShortLength(((byte[])h.Value).Length),
            EventHeaderType.String => 2 + CheckedShortLength(Encoding.UTF8.GetByteCount((string)h.Value)),
            _ => throw new ArgumentException($"Unknown header type {h.Type}.", nameof(h)),
        };
    }

    private static int CheckedShortLength(int length) =>
        length <= ushort.MaxValue ? length : throw new ArgumentException("A header value has at most 65,535 bytes.");

    private static int WriteHeader(Span<byte> dst, EventHeader h)
    {
        var nameLength = Encoding.UTF8.GetBytes(h.Name, dst[1..]);
        dst[0] = (byte)nameLength;
        var at = 1 + nameLength;
        dst[at++] = (byte)h.Type;
        switch (h.Type)
        {
            case EventHeaderType.BoolTrue or EventHeaderType.BoolFalse:
                break;
            case EventHeaderType.Byte:
                dst[at++] = (byte)(sbyte)h.Value;
                break;
            case EventHeaderType.Int16:
                BinaryPrimitives.WriteInt16BigEndian(dst[at..], (short)h.Value);
                at += 2;
                break;
            case EventHeaderType.Int32:
                BinaryPrimitives.WriteInt32BigEndian(dst[at..], (int)h.Value);
                at += 4;
                break;
            case EventHeaderType.Int64:
                BinaryPrimitives.WriteInt64BigEndian(dst[at..], (long)h.Value);
                at += 8;
                break;
            case EventHeaderType.Timestamp:
                BinaryPrimitives.WriteInt64BigEndian(dst[at..], ((DateTimeOffset)h.Value).ToUnixTimeMilliseconds());
                at += 8;
                break;
            case EventHeaderType.Uuid:
                ((Guid)h.Value).TryWriteBytes(dst.Slice(at, 16), bigEndian: true, out _);
                at += 16;
                break;
            case EventHeaderType.Bytes:
            {
                var bytes = (byte[])h.Value;
                BinaryPrimitives.WriteUInt16BigEndian(dst[at..], (ushort)bytes.Length);
                bytes.CopyTo(dst[(at + 2)..]);
                at += 2 + bytes.Length;
                break;
            }
            case EventHeaderType.String:
            {
                var length = Encoding.UTF8.GetBytes((string)h.Value, dst[(at + 2)..]);
                BinaryPrimitives.WriteUInt16BigEndian(dst[at..], (ushort)length);
                at += 2 + length;
                break;
            }
        }
        return at;
    }

    private static EventHeader ReadHeader(ReadOnlySpan<byte> src, ref int at)
    {
        try
        {
            int nameLength = src[at++];
            var name = Encoding.UTF8.GetString(src.Slice(at, nameLength));
            at += nameLength;
            var type = (EventHeaderType)src[at++];
            object value;
            switch (type)
            {
                case EventHeaderType.BoolTrue:
                    value = true;
                    break;
                case EventHeaderType.BoolFalse:
                    value = false;
                    break;
                case EventHeaderType.Byte:
                    value = (sbyte)src[at++];
                    break;
                case EventHeaderType.Int16:
                    value = BinaryPrimitives.ReadInt16BigEndian(src[at..]);
                    at += 2;
                    break;
                case EventHeaderType.Int32:
                    value = BinaryPrimitives.ReadInt32BigEndian(src[at..]);
                    at += 4;
                    break;
                case EventHeaderType.Int64:
                    value = BinaryPrimitives.ReadInt64BigEndian(src[at..]);
                    at += 8;
                    break;
                case EventHeaderType.Timestamp:
                    value = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(src[at..]));
                    at += 8;
                    break;
                case EventHeaderType.Uuid:
                    value = new Guid(src.Slice(at, 16), bigEndian: true);
                    at += 16;
                    break;
                case EventHeaderType.Bytes or EventHeaderType.String:
                {
                    var length = BinaryPrimitives.ReadUInt16BigEndian(src[at..]);
                    var bytes = src.Slice(at + 2, length);
                    value = type == EventHeaderType.String ? Encoding.UTF8.GetString(bytes) : bytes.ToArray();
                    at += 2 + length;
                    break;
                }
                default:
                    throw new FormatException($"Unknown event header type {(byte)type}.");
            }
            return new EventHeader(name, type, value);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException("An event header runs past the headers section.", e);
        }
    }
}
