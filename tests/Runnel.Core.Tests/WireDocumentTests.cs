using System.Formats.Cbor;
using System.Text;
using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Core.Wire;

namespace Runnel.Core.Tests;

/// <summary>
/// Requests read whole as a document through <see cref="WireReader"/> in JSON 1.1 and CBOR 1.1 (CBOR as its JSON
/// equivalent), the media types, and answers written in either format.
/// </summary>
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

    /// <summary>One request with every kind of member, in JSON and in CBOR; both read as the same document.</summary>
    private static (byte[] Json, byte[] Cbor) EveryKind()
    {
        var json = """{"Name":"s-1","Count":42,"Negative":-7,"Ratio":0.5,"On":true,"Off":false,"Gone":null,"Blob":"AQID","At":1700000000.25,"List":["a","b"],"Nested":{"Inner":{"Deep":1}},"Empty":{}}"""u8.ToArray();
        var cbor = Cbor(w =>
        {
            w.WriteTextString("Name"); w.WriteTextString("s-1");
            w.WriteTextString("Count"); w.WriteInt32(42);
            w.WriteTextString("Negative"); w.WriteInt32(-7);
            w.WriteTextString("Ratio"); w.WriteDouble(0.5);
            w.WriteTextString("On"); w.WriteBoolean(true);
            w.WriteTextString("Off"); w.WriteBoolean(false);
            w.WriteTextString("Gone"); w.WriteNull();
            w.WriteTextString("Blob"); w.WriteByteString([1, 2, 3]);
            w.WriteTextString("At"); w.WriteTag(CborTag.UnixTimeSeconds); w.WriteInt64(1_700_000_000_250);
            w.WriteTextString("List"); w.WriteStartArray(2); w.WriteTextString("a"); w.WriteTextString("b"); w.WriteEndArray();
            w.WriteTextString("Nested"); w.WriteStartMap(1); w.WriteTextString("Inner"); w.WriteStartMap(1); w.WriteTextString("Deep"); w.WriteInt32(1); w.WriteEndMap(); w.WriteEndMap();
            w.WriteTextString("Empty"); w.WriteStartMap(0); w.WriteEndMap();
        });
        return (json, cbor);
    }

    [Theory]
    [InlineData(WireFormat.Json)]
    [InlineData(WireFormat.Cbor)]
    public void Every_kind_of_member_reads_the_same_in_both_formats(WireFormat format)
    {
        var (json, cbor) = EveryKind();
        using var doc = WireDocument.Parse(format == WireFormat.Json ? json : cbor, format);
        var q = doc.RootElement;
        Assert.Equal("s-1", q.GetProperty("Name").GetString());
        Assert.Equal(42, q.GetProperty("Count").GetInt64());
        Assert.Equal(-7, q.GetProperty("Negative").GetInt64());
        Assert.Equal(0.5, q.GetProperty("Ratio").GetDouble());
        Assert.True(q.GetProperty("On").GetBoolean());
        Assert.False(q.GetProperty("Off").GetBoolean());
        Assert.Equal(JsonValueKind.Null, q.GetProperty("Gone").ValueKind);
        Assert.Equal([1, 2, 3], q.GetProperty("Blob").GetBytesFromBase64());
        Assert.Equal(1_700_000_000.25m, q.GetProperty("At").GetDecimal());
        Assert.Equal(["a", "b"], q.GetProperty("List").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1, q.GetProperty("Nested").GetProperty("Inner").GetProperty("Deep").GetInt32());
        Assert.Empty(q.GetProperty("Empty").EnumerateObject());
    }

    [Theory]
    [InlineData(WireFormat.Json)]
    [InlineData(WireFormat.Cbor)]
    public void An_empty_body_is_an_empty_object(WireFormat format)
    {
        using var doc = WireDocument.Parse(ReadOnlyMemory<byte>.Empty, format);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        Assert.Empty(doc.RootElement.EnumerateObject());
    }

    [Theory]
    [InlineData("""{"Name":""")]                 // truncated
    [InlineData("""{"Name":"a"} x""")]           // content after the request
    [InlineData("""{"Name":"a"}{}""")]           // two root values
    [InlineData("""{"Name":'a'}""")]             // not JSON
    [InlineData("""{"Name":"a",}""")]            // trailing comma
    public void Malformed_json_is_a_SerializationException(string body)
    {
        var e = Assert.Throws<KinesisException>(() => WireDocument.Parse(Encoding.UTF8.GetBytes(body), WireFormat.Json));
        Assert.Equal(ErrorTypes.Serialization, e.Type);
        Assert.Equal("Malformed JSON request body.", e.Message);
    }

    [Theory]
    [InlineData(WireFormat.Json)]
    [InlineData(WireFormat.Cbor)]
    public void Nesting_deeper_than_32_levels_is_a_SerializationException_in_both_formats(WireFormat format)
    {
        const int depth = 40;
        byte[] body;
        if (format == WireFormat.Json)
        {
            body = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"A\":", depth)) + "1" + new string('}', depth));
        }
        else
        {
            var w = new CborWriter();
            for (var i = 0; i < depth; i++)
            {
                w.WriteStartMap(1);
                w.WriteTextString("A");
            }
            w.WriteInt32(1);
            for (var i = 0; i < depth; i++)
                w.WriteEndMap();
            body = w.Encode();
        }
        var e = Assert.Throws<KinesisException>(() => WireDocument.Parse(body, format));
        Assert.Equal(ErrorTypes.Serialization, e.Type);
    }

    [Theory]
    [InlineData(WireFormat.Json)]
    [InlineData(WireFormat.Cbor)]
    public void A_pooled_body_is_read_to_its_length_and_the_document_keeps_its_own_copy(WireFormat format)
    {
        var (json, cbor) = EveryKind();
        var content = format == WireFormat.Json ? json : cbor;
        // A rented buffer is longer than the request and holds leftovers of an earlier one after it.
        var pooled = new byte[content.Length + 64];
        content.CopyTo(pooled, 0);
        pooled.AsSpan(content.Length).Fill((byte)'}');
        using var doc = WireDocument.Parse(pooled.AsMemory(0, content.Length), format);
        Array.Clear(pooled);
        Assert.Equal("s-1", doc.RootElement.GetProperty("Name").GetString());
        Assert.Equal([1, 2, 3], doc.RootElement.GetProperty("Blob").GetBytesFromBase64());

        // A slice that does not start its array reads the same.
        var shifted = new byte[content.Length + 3];
        content.CopyTo(shifted, 3);
        using var fromSlice = WireDocument.Parse(shifted.AsMemory(3), format);
        Assert.Equal(42, fromSlice.RootElement.GetProperty("Count").GetInt64());
    }

    [Theory]
    [InlineData("application/x-amz-json-1.1", WireFormat.Json, WireDocument.JsonContentType, true)]
    [InlineData("Application/X-Amz-Cbor-1.1; charset=utf-8", WireFormat.Cbor, WireDocument.CborContentType, true)]
    [InlineData("application/json", WireFormat.Json, WireDocument.PlainJsonContentType, true)]
    [InlineData("text/plain", WireFormat.Json, WireDocument.JsonContentType, false)]
    [InlineData(null, WireFormat.Json, WireDocument.JsonContentType, false)]
    public void Media_types_choose_the_format_and_the_answer_type(string? contentType, WireFormat format, string answer, bool served)
    {
        var detected = WireDocument.Detect(contentType);
        Assert.Equal(format, detected.Format);
        Assert.Equal(answer, detected.ContentType);
        Assert.Equal(served, detected.Served);
        Assert.Equal(answer == WireDocument.CborContentType ? WireDocument.CborContentType : WireDocument.JsonContentType, WireDocument.ContentType(format));
    }
}
