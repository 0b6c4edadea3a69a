using System.Formats.Cbor;
using Runnel.Core.Errors;
using Runnel.Core.Wire;
using Runnel.Gateway;

namespace Runnel.FanOut.Tests;

/// <summary>CBOR requests read as their JSON equivalent, and answers written in either format.</summary>
public sealed class WireDocumentTests
{
    private static byte[] Cbor(Action<CborWriter> members)
    {
        var w = new CborWriter();
        w.WriteStartMap(null);
        members(w);
        w.WriteEndMap();
        return w.Encode();
    }

    [Fact]
    public void Timestamps_in_milliseconds_or_seconds_and_blobs_read_as_the_json_form()
    {
        var body = Cbor(w =>
        {
            w.WriteTextString("ShardId");
            w.WriteTextString("shardId-000000000000");
            w.WriteTextString("StartingPosition");
            w.WriteStartMap(2);
            w.WriteTextString("Type");
            w.WriteTextString("AT_TIMESTAMP");
            w.WriteTextString("Timestamp");
            w.WriteTag(CborTag.UnixTimeSeconds);
            w.WriteInt64(1_700_000_000_250);
            w.WriteEndMap();
            w.WriteTextString("Seconds");
            w.WriteTag(CborTag.UnixTimeSeconds);
            w.WriteDouble(1_700_000_000.5);
            w.WriteTextString("Blob");
            w.WriteByteString([1, 2, 3]);
            w.WriteTextString("Max");
            w.WriteInt32(7);
        });
        using var doc = WireDocument.Parse(body, WireFormat.Cbor);
        var q = doc.RootElement;
        Assert.Equal("shardId-000000000000", q.GetProperty("ShardId").GetString());
        Assert.Equal(1_700_000_000.25, q.GetProperty("StartingPosition").GetProperty("Timestamp").GetDouble());
        Assert.Equal(1_700_000_000.5, q.GetProperty("Seconds").GetDouble());
        Assert.Equal([1, 2, 3], q.GetProperty("Blob").GetBytesFromBase64());
        Assert.Equal(7, q.GetProperty("Max").GetInt32());
    }

    [Theory]
    [InlineData(new byte[] { 0xBF, 0x63, 0x61 })] // truncated map
    [InlineData(new byte[] { 0xA1, 0x01, 0x02 })] // integer key
    [InlineData(new byte[] { 0xA0, 0xA0 })]       // two root values
    public void Malformed_cbor_is_a_SerializationException(byte[] body)
    {
        var e = Assert.Throws<KinesisException>(() => WireDocument.Parse(body, WireFormat.Cbor));
        Assert.Equal(ErrorTypes.Serialization, e.Type);
    }

    [Fact]
    public void Answers_carry_tag_1_milliseconds_and_byte_strings_in_cbor_and_seconds_and_base64_in_json()
    {
        byte[] Write(WireFormat format)
        {
            using var w = new WireWriter(format);
            w.StartObject();
            w.Timestamp("At", 1_700_000_000_250);
            w.Blob("Data", [9, 8]);
            w.EndObject();
            return w.Complete().ToArray();
        }

        var r = new CborReader(Write(WireFormat.Cbor), CborConformanceMode.Lax);
        r.ReadStartMap();
        Assert.Equal("At", r.ReadTextString());
        Assert.Equal(CborTag.UnixTimeSeconds, r.ReadTag());
        Assert.Equal(1_700_000_000_250, r.ReadInt64());
        Assert.Equal("Data", r.ReadTextString());
        Assert.Equal([9, 8], r.ReadByteString());
        r.ReadEndMap();

        Assert.Equal("""{"At":1700000000.25,"Data":"CQg="}""", System.Text.Encoding.UTF8.GetString(Write(WireFormat.Json)));
        Assert.Equal(WireFormat.Cbor, WireDocument.FormatOf("application/x-amz-cbor-1.1; charset=utf-8"));
        Assert.Equal(WireFormat.Json, WireDocument.FormatOf(null));
    }
}
