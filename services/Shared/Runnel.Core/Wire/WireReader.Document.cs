using System.Buffers;
using System.Formats.Cbor;
using System.Text.Json;
using Runnel.Core.Errors;

namespace Runnel.Core.Wire;

public ref partial struct WireReader
{
    /// <summary>An integer timestamp above this is milliseconds: 10^11 s is the year 5138, 10^11 ms is 1973.</summary>
    private const long MillisecondsThreshold = 100_000_000_000L;

    /// <summary>The nesting a document may have, in either format (the JSON reader's MaxDepth).</summary>
    private const int MaxDocumentDepth = 32;

    /// <summary>
    /// Reads the whole body as one JSON document, with its own copy of the data: an empty body is an empty object,
    /// malformed input is SerializationException. A CBOR body becomes its JSON equivalent: byte strings base64, a
    /// timestamp (tag 1 over epoch milliseconds, the Kinesis quirk the SDKs read and write, or over seconds) the JSON
    /// form's epoch seconds with a fraction.
    /// </summary>
    public JsonDocument ReadDocument()
    {
        if (_length == 0)
            return JsonDocument.Parse("{}");
        if (_cbor is not null)
        {
            try
            {
                var output = new ArrayBufferWriter<byte>(_cbor.BytesRemaining * 2 + 16);
                using (var json = new Utf8JsonWriter(output))
                    CopyCbor(_cbor, json, 0);
                if (_cbor.BytesRemaining != 0)
                    throw new CborContentException("Trailing bytes after the request.");
                return JsonDocument.Parse(output.WrittenMemory);
            }
            catch (Exception e) when (MalformedInput.Is(e))
            {
                throw KinesisException.Serialization("Malformed CBOR request body.");
            }
        }
        try
        {
            _json.Read();
            var document = JsonDocument.ParseValue(ref _json);
            // A second value (or anything but whitespace) after the first makes the reader throw.
            _json.Read();
            return document;
        }
        catch (JsonException)
        {
            throw KinesisException.Serialization("Malformed JSON request body.");
        }
    }

    private static void CopyCbor(CborReader reader, Utf8JsonWriter json, int depth)
    {
        if (depth > MaxDocumentDepth)
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
                    CopyCbor(reader, json, depth + 1);
                }
                reader.ReadEndMap();
                json.WriteEndObject();
                break;
            case CborReaderState.StartArray:
                reader.ReadStartArray();
                json.WriteStartArray();
                while (reader.PeekState() != CborReaderState.EndArray)
                    CopyCbor(reader, json, depth + 1);
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
                    CopyCbor(reader, json, depth + 1);
                }
                break;
            default:
                throw new CborContentException($"Unexpected CBOR item {reader.PeekState()}.");
        }
    }
}
