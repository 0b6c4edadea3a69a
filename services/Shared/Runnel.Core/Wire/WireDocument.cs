using System.Buffers;
using System.Formats.Cbor;
using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Core.Wire;

namespace Runnel.Gateway;

/// <summary>
/// Request parsing for the AWS JSON-protocol operations in JSON 1.1 or CBOR 1.1 (answers are written with
/// <see cref="WireWriter"/>). A CBOR request is turned into the equivalent JSON document so each operation has one
/// parser; a CBOR timestamp is tag 1 over epoch milliseconds (the Kinesis quirk the SDKs read and write), the JSON form
/// epoch seconds with a fraction.
/// </summary>
public static class WireDocument
{
    public const string JsonContentType = "application/x-amz-json-1.1";
    public const string CborContentType = "application/x-amz-cbor-1.1";
    public const string PlainJsonContentType = "application/json";

    /// <summary>An integer timestamp above this is milliseconds: 10^11 s is the year 5138, 10^11 ms is 1973.</summary>
    private const long MillisecondsThreshold = 100_000_000_000L;

    private const int MaxDepth = 32;

    public static WireFormat FormatOf(string? contentType) => Detect(contentType).Format;

    /// <summary>
    /// The request's wire format, the media type its answer repeats, and whether the AWS JSON protocols serve that
    /// media type at all (JSON 1.1, CBOR 1.1, or plain JSON, which AWS's front end answers in its own way). An
    /// absent or other media type reads as JSON 1.1, not served. The returned strings are the constants, so callers
    /// can compare by reference.
    /// </summary>
    public static (WireFormat Format, string ContentType, bool Served) Detect(string? contentType)
    {
        var media = (contentType ?? "").AsSpan();
        var semicolon = media.IndexOf(';');
        if (semicolon >= 0)
            media = media[..semicolon];
        media = media.Trim();
        if (media.Equals(JsonContentType, StringComparison.OrdinalIgnoreCase))
            return (WireFormat.Json, JsonContentType, true);
        if (media.Equals(CborContentType, StringComparison.OrdinalIgnoreCase))
            return (WireFormat.Cbor, CborContentType, true);
        if (media.Equals(PlainJsonContentType, StringComparison.OrdinalIgnoreCase))
            return (WireFormat.Json, PlainJsonContentType, true);
        return (WireFormat.Json, JsonContentType, false);
    }

    public static string ContentType(WireFormat format) => format == WireFormat.Cbor ? CborContentType : JsonContentType;

    /// <summary>Parses a request body; an empty body is an empty object. Malformed input is SerializationException.</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> body, WireFormat format)
    {
        if (body.IsEmpty)
            return JsonDocument.Parse("{}");
        if (format == WireFormat.Json)
        {
            try
            {
                return JsonDocument.Parse(body);
            }
            catch (JsonException)
            {
                throw KinesisException.Serialization("Malformed JSON request body.");
            }
        }
        try
        {
            var reader = new CborReader(body, CborConformanceMode.Lax, allowMultipleRootLevelValues: false);
            var output = new ArrayBufferWriter<byte>(body.Length * 2 + 16);
            using (var json = new Utf8JsonWriter(output))
                CopyValue(reader, json, 0);
            if (reader.BytesRemaining != 0)
                throw new CborContentException("Trailing bytes after the request.");
            return JsonDocument.Parse(output.WrittenMemory);
        }
        catch (Exception e) when (MalformedInput.Is(e))
        {
            throw KinesisException.Serialization("Malformed CBOR request body.");
        }
    }

    private static void CopyValue(CborReader reader, Utf8JsonWriter json, int depth)
    {
        if (depth > MaxDepth)
            throw new CborContentException("The request nests too deeply.");
        switch (reader.PeekState())
        {
            case CborReaderState.StartMap:
                reader.ReadStartMap();
                json.WriteStartObject();
                while (reader.PeekState() != CborReaderState.EndMap)
                {
                    if (reader.PeekState() != CborReaderState.TextString)
                        throw new CborContentException("Map keys must be text.");
                    json.WritePropertyName(reader.ReadTextString());
                    CopyValue(reader, json, depth + 1);
                }
                reader.ReadEndMap();
                json.WriteEndObject();
                break;
            case CborReaderState.StartArray:
                reader.ReadStartArray();
                json.WriteStartArray();
                while (reader.PeekState() != CborReaderState.EndArray)
                    CopyValue(reader, json, depth + 1);
                reader.ReadEndArray();
                json.WriteEndArray();
                break;
            case CborReaderState.TextString:
            case CborReaderState.StartIndefiniteLengthTextString:
                json.WriteStringValue(reader.ReadTextString());
                break;
            case CborReaderState.ByteString:
            case CborReaderState.StartIndefiniteLengthByteString:
                json.WriteBase64StringValue(reader.ReadByteString());
                break;
            case CborReaderState.UnsignedInteger:
            case CborReaderState.NegativeInteger:
                json.WriteNumberValue(CborIntegers.ReadClamped(reader));
                break;
            case CborReaderState.HalfPrecisionFloat:
            case CborReaderState.SinglePrecisionFloat:
            case CborReaderState.DoublePrecisionFloat:
                json.WriteNumberValue(reader.ReadDouble());
                break;
            case CborReaderState.Boolean:
                json.WriteBooleanValue(reader.ReadBoolean());
                break;
            case CborReaderState.Null:
                reader.ReadNull();
                json.WriteNullValue();
                break;
            case CborReaderState.SimpleValue:
                reader.ReadSimpleValue();
                json.WriteNullValue();
                break;
            case CborReaderState.Tag:
                // Tag 1 (epoch time): the SDKs send milliseconds as an integer or seconds as a float; the JSON form
                // of a timestamp is seconds, which is what the operations read.
                var tag = reader.ReadTag();
                if (tag == CborTag.UnixTimeSeconds && reader.PeekState() is CborReaderState.UnsignedInteger or CborReaderState.NegativeInteger)
                {
                    var n = CborIntegers.ReadClamped(reader);
                    json.WriteNumberValue(Math.Abs(n) > MillisecondsThreshold ? n / 1000m : n);
                }
                else
                {
                    CopyValue(reader, json, depth + 1);
                }
                break;
            default:
                throw new CborContentException($"Unexpected CBOR item {reader.PeekState()}.");
        }
    }
}
