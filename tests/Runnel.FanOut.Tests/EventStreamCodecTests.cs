using System.Text;
using Runnel.FanOut.EventStream;

namespace Runnel.FanOut.Tests;

public sealed class EventStreamCodecTests
{
    /// <summary>
    /// Vectors worked out by hand from the format: prelude (total, headers length, CRC32 of those 8 bytes), headers,
    /// payload, CRC32 of all before. The empty message's CRCs (05c248eb, 7d98c8ff) also match AWS's published vector.
    /// </summary>
    [Theory]
    [InlineData("000000100000000005c248eb7d98c8ff", null, null, "")]
    [InlineData("000000280000001660470efd0d3a6d6573736167652d747970650700056576656e747b7db7184afc", ":message-type", "event", "{}")]
    public void Encodes_known_vectors(string hex, string? header, string? value, string payload)
    {
        EventHeader[] headers = header is null ? [] : [EventHeader.String(header, value!)];
        var encoded = EventStreamCodec.Encode(headers, Encoding.UTF8.GetBytes(payload));
        Assert.Equal(hex, Convert.ToHexStringLower(encoded));
        var decoded = EventStreamCodec.Decode(Convert.FromHexString(hex));
        Assert.Equal(payload, Encoding.UTF8.GetString(decoded.Payload.Span));
        Assert.Equal(headers.Length, decoded.Headers.Count);
        if (header is not null)
            Assert.Equal(value, decoded.HeaderString(header));
    }

    [Fact]
    public void Round_trips_every_header_type()
    {
        var id = Guid.NewGuid();
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        EventHeader[] headers =
        [
            new("t", EventHeaderType.BoolTrue, true),
            new("f", EventHeaderType.BoolFalse, false),
            new("b", EventHeaderType.Byte, (sbyte)-7),
            new("s", EventHeaderType.Int16, (short)-300),
            new("i", EventHeaderType.Int32, 70_000),
            new("l", EventHeaderType.Int64, long.MinValue + 1),
            new("y", EventHeaderType.Bytes, new byte[] { 1, 2, 3 }),
            new("str", EventHeaderType.String, "héllo"),
            new("ts", EventHeaderType.Timestamp, at),
            new("u", EventHeaderType.Uuid, id),
        ];
        var payload = new byte[70_000];
        Random.Shared.NextBytes(payload);
        var decoded = EventStreamCodec.Decode(EventStreamCodec.Encode(headers, payload));
        Assert.Equal(payload, decoded.Payload.ToArray());
        Assert.Equal(headers.Length, decoded.Headers.Count);
        for (var i = 0; i < headers.Length; i++)
        {
            Assert.Equal(headers[i].Name, decoded.Headers[i].Name);
            Assert.Equal(headers[i].Type, decoded.Headers[i].Type);
            if (headers[i].Value is byte[] bytes)
                Assert.Equal(bytes, (byte[])decoded.Headers[i].Value);
            else
                Assert.Equal(headers[i].Value, decoded.Headers[i].Value);
        }
    }

    [Theory]
    [InlineData(2)]   // inside the total length
    [InlineData(9)]   // prelude CRC
    [InlineData(14)]  // a header byte
    [InlineData(35)]  // the payload
    [InlineData(39)]  // message CRC
    public void Rejects_a_corrupted_byte(int position)
    {
        var message = Convert.FromHexString("000000280000001660470efd0d3a6d6573736167652d747970650700056576656e747b7db7184afc");
        message[position] ^= 0x01;
        Assert.Throws<FormatException>(() => EventStreamCodec.Decode(message));
    }

    [Fact]
    public void Rejects_a_truncated_message() =>
        Assert.Throws<FormatException>(() => EventStreamCodec.Decode(Convert.FromHexString("000000100000000005c248eb7d98c8")));
}
