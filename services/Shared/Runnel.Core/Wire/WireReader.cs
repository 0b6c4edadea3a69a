using System.Buffers;
using System.Buffers.Text;
using System.Formats.Cbor;
using System.Text;
using System.Text.Json;
using Runnel.Core.Errors;

namespace Runnel.Core.Wire;

/// <summary>
/// A pull reader over one request body in either wire format, so each operation has one parser.
/// Type mismatches throw SerializationException with the texts the AWS service uses. Base64 blobs of a
/// JSON body are decoded in place inside the body buffer (the decoded bytes are always shorter than
/// the text), so record data is never copied between the socket and the shard store. The body buffer
/// must therefore stay alive and untouched for as long as any returned blob is used.
/// </summary>
public ref partial struct WireReader
{
    private Utf8JsonReader _json;
    private readonly CborReader? _cbor;
    private readonly byte[] _body;
    private readonly int _length;
    // Set when a container iteration already consumed the token of the next value.
    private bool _pending;

    private WireReader(byte[] body, int length, WireFormat format)
    {
        _body = body;
        _length = length;
        if (format == WireFormat.Cbor)
        {
            _cbor = new CborReader(body.AsMemory(0, length), CborConformanceMode.Lax, allowMultipleRootLevelValues: false);
            _json = default;
        }
        else
        {
            _cbor = null;
            _json = new Utf8JsonReader(body.AsSpan(0, length), new JsonReaderOptions { MaxDepth = 32 });
        }
    }

    public static WireReader Create(byte[] body, int length, WireFormat format) => new(body, length, format);

    public readonly bool IsCbor => _cbor is not null;

    /// <summary>Enters the top-level request object. An empty body counts as an empty object.</summary>
    public void ReadRequestStart()
    {
        if (_cbor is not null)
        {
            if (_cbor.BytesRemaining == 0)
            {
                _empty = true;
                return;
            }
            if (_cbor.PeekState() != CborReaderState.StartMap)
                throw KinesisException.Serialization("Start of structure or map expected.");
            _cbor.ReadStartMap();
            return;
        }
        if (!_json.Read())
        {
            _empty = true;
            return;
        }
        if (_json.TokenType != JsonTokenType.StartObject)
            throw KinesisException.Serialization("Start of structure or map expected.");
    }

    private bool _empty;

    /// <summary>Next member name of the current object as UTF-8, or false at its end.</summary>
    public bool TryReadPropertyName(out ReadOnlySpan<byte> name)
    {
        name = default;
        if (_empty)
            return false;
        if (_cbor is not null)
        {
            var state = _cbor.PeekState();
            if (state == CborReaderState.EndMap)
            {
                _cbor.ReadEndMap();
                return false;
            }
            if (state != CborReaderState.TextString)
                throw KinesisException.Serialization("Map keys must be text strings.");
            name = ReadCborText();
            return true;
        }
        _json.Read();
        if (_json.TokenType == JsonTokenType.EndObject)
            return false;
        name = _json.ValueIsEscaped ? Encoding.UTF8.GetBytes(_json.GetString()!) : _json.ValueSpan;
        return true;
    }

    /// <summary>Next key of a string-to-string map, or false at its end.</summary>
    public bool TryReadMapKey(out string key)
    {
        key = "";
        if (!TryReadPropertyName(out var name))
            return false;
        key = MalformedInput.StrictUtf8.GetString(name);
        return true;
    }

    // TextString state means a definite-length string; indefinite ones report their own state.
    private readonly ReadOnlySpan<byte> ReadCborText() => _cbor!.ReadDefiniteLengthTextStringBytes().Span;

    private void Advance()
    {
        if (_pending)
        {
            _pending = false;
            return;
        }
        _json.Read();
    }

    public string? ReadString()
    {
        if (_cbor is not null)
        {
            switch (_cbor.PeekState())
            {
                case CborReaderState.TextString:
                    return _cbor.ReadTextString();
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return null;
                default:
                    throw CborMismatch("String");
            }
        }
        Advance();
        return _json.TokenType switch
        {
            JsonTokenType.String => _json.GetString(),
            JsonTokenType.Null => null,
            _ => throw JsonMismatch("String"),
        };
    }

    public long? ReadInteger(string type = "Integer")
    {
        if (_cbor is not null)
        {
            switch (_cbor.PeekState())
            {
                case CborReaderState.UnsignedInteger:
                case CborReaderState.NegativeInteger:
                    return CborIntegers.ReadClamped(_cbor);
                case CborReaderState.HalfPrecisionFloat:
                case CborReaderState.SinglePrecisionFloat:
                case CborReaderState.DoublePrecisionFloat:
                    var d = _cbor.ReadDouble();
                    // A conversion of NaN or an infinity to long would quietly give 0 or a bound.
                    if (!double.IsFinite(d))
                        throw KinesisException.Serialization($"'{d}' can not be converted to {Article(type)} {type}");
                    return Floor(d);
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return null;
                default:
                    throw CborMismatch(type);
            }
        }
        Advance();
        switch (_json.TokenType)
        {
            case JsonTokenType.Number:
                if (_json.TryGetInt64(out var whole))
                    return whole;
                return Floor(_json.GetDouble());
            case JsonTokenType.Null:
                return null;
            default:
                throw JsonMismatch(type);
        }
    }

    private static long Floor(double d) => d >= long.MaxValue ? long.MaxValue : d <= long.MinValue ? long.MinValue : (long)Math.Floor(d);

    public bool? ReadBoolean()
    {
        if (_cbor is not null)
        {
            switch (_cbor.PeekState())
            {
                case CborReaderState.Boolean:
                    return _cbor.ReadBoolean();
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return null;
                default:
                    throw CborMismatch("Boolean");
            }
        }
        Advance();
        switch (_json.TokenType)
        {
            case JsonTokenType.True:
                return true;
            case JsonTokenType.False:
                return false;
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                throw KinesisException.Serialization($"'{_json.GetString()!.ToUpperInvariant()}' can not be converted to an Boolean");
            default:
                throw JsonMismatch("Boolean");
        }
    }

    /// <summary>
    /// A timestamp as Unix milliseconds. JSON carries epoch seconds (with a fraction). CBOR carries a
    /// number, usually under tag 1; the Java SDKs put epoch milliseconds there while the CBOR standard
    /// says seconds, so an integer beyond 10^11 (year 5138 in seconds, 1973 in milliseconds) is read
    /// as milliseconds.
    /// </summary>
    public long? ReadTimestamp()
    {
        if (_cbor is not null)
        {
            var state = _cbor.PeekState();
            if (state == CborReaderState.Tag)
            {
                _cbor.ReadTag();
                state = _cbor.PeekState();
            }
            switch (state)
            {
                case CborReaderState.UnsignedInteger:
                case CborReaderState.NegativeInteger:
                    var n = CborIntegers.ReadClamped(_cbor);
                    var ms = n is > MillisecondsThreshold or < -MillisecondsThreshold ? n : n * 1000;
                    return MalformedInput.TryEpochSeconds(ms / 1000d, out _) ? ms : throw KinesisException.Serialization("Timestamp out of range.");
                case CborReaderState.HalfPrecisionFloat:
                case CborReaderState.SinglePrecisionFloat:
                case CborReaderState.DoublePrecisionFloat:
                    return SecondsToMillis(_cbor.ReadDouble());
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return null;
                default:
                    throw CborMismatch("Date");
            }
        }
        Advance();
        switch (_json.TokenType)
        {
            case JsonTokenType.Number:
                return SecondsToMillis(_json.GetDouble());
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                var text = _json.GetString()!;
                if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
                    return SecondsToMillis(seconds);
                if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at))
                    return at.ToUnixTimeMilliseconds();
                throw KinesisException.Serialization($"'{text}' can not be converted to a Date");
            default:
                throw JsonMismatch("Date");
        }
    }

    private static long SecondsToMillis(double seconds)
    {
        if (!MalformedInput.TryEpochSeconds(seconds, out var at))
            throw KinesisException.Serialization("Timestamp out of range.");
        return at.ToUnixTimeMilliseconds();
    }

    /// <summary>A blob: base64 text in JSON (decoded in place), a byte string in CBOR. Null when absent.</summary>
    public ReadOnlyMemory<byte>? ReadBlob()
    {
        if (_cbor is not null)
        {
            switch (_cbor.PeekState())
            {
                case CborReaderState.ByteString:
                    return _cbor.ReadDefiniteLengthByteString();
                case CborReaderState.StartIndefiniteLengthByteString:
                    return _cbor.ReadByteString();
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return null;
                default:
                    throw CborMismatch("Blob");
            }
        }
        Advance();
        switch (_json.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                break;
            default:
                throw JsonMismatch("Blob");
        }
        if (_json.ValueIsEscaped)
            return DecodeCopy(_json.GetString()!);
        var start = (int)_json.TokenStartIndex + 1;
        var length = _json.ValueSpan.Length;
        var text = _body.AsSpan(start, length);
        CheckBase64(text);
        if (!TryDecodeOverText(text, out var written))
            throw BlobError(Encoding.UTF8.GetString(text), "Invalid last non-pad Base64 character dectected");
        return _body.AsMemory(start, written);
    }

    /// <summary>Records up to this size (decoded) go through the vectorised decoder; 64 KiB of scratch per thread.</summary>
    private const int ScratchBytes = 64 * 1024;

    [ThreadStatic]
    private static byte[]? t_scratch;

    /// <summary>
    /// Decodes base64 text into the bytes it occupies. The platform's in-place decoder is scalar, while the
    /// span-to-span one is vectorised and several times faster on KiB-sized records, so text is decoded into a
    /// scratch buffer of this thread and copied back (the copy is cheap next to the decode). Larger blobs are
    /// decoded in place. False when the text is not valid base64.
    /// </summary>
    private static bool TryDecodeOverText(Span<byte> text, out int written)
    {
        if (Base64.GetMaxDecodedFromUtf8Length(text.Length) > ScratchBytes)
            return Base64.DecodeFromUtf8InPlace(text, out written) == System.Buffers.OperationStatus.Done;
        var scratch = t_scratch ??= new byte[ScratchBytes];
        if (Base64.DecodeFromUtf8(text, scratch, out _, out written) != System.Buffers.OperationStatus.Done)
            return false;
        scratch.AsSpan(0, written).CopyTo(text);
        return true;
    }

    private static byte[] DecodeCopy(string text)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        CheckBase64(utf8);
        if (Base64.DecodeFromUtf8InPlace(utf8, out var written) != System.Buffers.OperationStatus.Done)
            throw BlobError(text, "Invalid last non-pad Base64 character dectected");
        return utf8.AsSpan(0, written).ToArray();
    }

    /// <summary>Strict base64: length a multiple of 4, only the standard alphabet, padding only at the end.</summary>
    private static readonly SearchValues<byte> Base64Alphabet =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"u8);

    private static void CheckBase64(ReadOnlySpan<byte> text)
    {
        if (text.Length % 4 != 0)
            throw BlobError(Encoding.UTF8.GetString(text), $"Base64 encoded length is expected a multiple of 4 bytes but found: {text.Length}");
        var padStart = text.Length;
        if (padStart > 0 && text[padStart - 1] == '=')
            padStart--;
        if (padStart > 0 && text[padStart - 1] == '=')
            padStart--;
        // Everything before the padding must be in the alphabet; the padding itself is '=' by construction.
        // The vectorised search keeps validation of a 1 MiB record to a few microseconds.
        var bad = text[..padStart].IndexOfAnyExcept(Base64Alphabet);
        if (bad >= 0)
            throw BlobError(Encoding.UTF8.GetString(text), $"Invalid Base64 character: '{(char)text[bad]}'");
    }

    private static KinesisException BlobError(string text, string reason)
    {
        // The service echoes the value; a record can be a megabyte of text, so the echo is cut short.
        var shown = text.Length > 256 ? text[..256] + "..." : text;
        return KinesisException.Serialization($"'{shown}' can not be converted to a Blob: {reason}");
    }

    /// <summary>Enters a list; false when the value is null.</summary>
    public bool ReadStartArray()
    {
        if (_cbor is not null)
        {
            switch (_cbor.PeekState())
            {
                case CborReaderState.StartArray:
                    _cbor.ReadStartArray();
                    return true;
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return false;
                case CborReaderState.StartMap:
                    throw KinesisException.Serialization("Start of structure or map found where not expected.");
                default:
                    throw KinesisException.Serialization("Expected list or null");
            }
        }
        Advance();
        return _json.TokenType switch
        {
            JsonTokenType.StartArray => true,
            JsonTokenType.Null => false,
            JsonTokenType.StartObject => throw KinesisException.Serialization("Start of structure or map found where not expected."),
            _ => throw KinesisException.Serialization("Expected list or null"),
        };
    }

    /// <summary>True when the current list has another item (read it next), false at its end.</summary>
    public bool TryReadArrayItem()
    {
        if (_cbor is not null)
        {
            if (_cbor.PeekState() == CborReaderState.EndArray)
            {
                _cbor.ReadEndArray();
                return false;
            }
            return true;
        }
        _json.Read();
        if (_json.TokenType == JsonTokenType.EndArray)
            return false;
        _pending = true;
        return true;
    }

    /// <summary>Enters a structure; false when the value is null.</summary>
    public bool ReadStartObject() => ReadStartObject("Expected null");

    /// <summary>Enters a map member (such as Tags); false when the value is null. A scalar there is "Expected map or null".</summary>
    public bool ReadStartMap() => ReadStartObject("Expected map or null");

    // AWS names what it expected by the member's shape: a structure's scalar is "Expected null", a map's "Expected map or null".
    private bool ReadStartObject(string scalarFault)
    {
        if (_cbor is not null)
        {
            switch (_cbor.PeekState())
            {
                case CborReaderState.StartMap:
                    _cbor.ReadStartMap();
                    return true;
                case CborReaderState.Null:
                case CborReaderState.Undefined:
                    SkipCborNull();
                    return false;
                case CborReaderState.StartArray:
                    throw KinesisException.Serialization("Start of list found where not expected");
                default:
                    throw KinesisException.Serialization(scalarFault);
            }
        }
        Advance();
        return _json.TokenType switch
        {
            JsonTokenType.StartObject => true,
            JsonTokenType.Null => false,
            JsonTokenType.StartArray => throw KinesisException.Serialization("Start of list found where not expected"),
            _ => throw KinesisException.Serialization(scalarFault),
        };
    }

    /// <summary>Skips the value of an unknown member.</summary>
    public void Skip()
    {
        if (_cbor is not null)
        {
            _cbor.SkipValue();
            return;
        }
        Advance();
        if (_json.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            _json.Skip();
    }

    /// <summary>Checks that nothing but whitespace follows the request object.</summary>
    public void ReadRequestEnd()
    {
        if (_empty)
            return;
        if (_cbor is not null)
        {
            if (_cbor.BytesRemaining != 0)
                throw KinesisException.Serialization("Unexpected content after the request.");
            return;
        }
        if (_json.Read())
            throw KinesisException.Serialization("Unexpected content after the request.");
    }

    private readonly void SkipCborNull()
    {
        if (_cbor!.PeekState() == CborReaderState.Null)
            _cbor.ReadNull();
        else
            _cbor.ReadSimpleValue();
    }

    private readonly KinesisException JsonMismatch(string type) => _json.TokenType switch
    {
        JsonTokenType.StartObject => KinesisException.Serialization("Start of structure or map found where not expected."),
        JsonTokenType.StartArray => KinesisException.Serialization("Start of list found where not expected"),
        JsonTokenType.True or JsonTokenType.False => KinesisException.Serialization($"class java.lang.Boolean can not be converted to {Article(type)} {type}"),
        JsonTokenType.Number => KinesisException.Serialization($"class java.math.BigDecimal can not be converted to {Article(type)} {type}"),
        JsonTokenType.String => KinesisException.Serialization($"class java.lang.String can not be converted to {Article(type)} {type}"),
        _ => KinesisException.Serialization($"Unexpected token where {Article(type)} {type} was expected."),
    };

    private readonly KinesisException CborMismatch(string type) => _cbor!.PeekState() switch
    {
        CborReaderState.StartMap => KinesisException.Serialization("Start of structure or map found where not expected."),
        CborReaderState.StartArray => KinesisException.Serialization("Start of list found where not expected"),
        CborReaderState.Boolean => KinesisException.Serialization($"class java.lang.Boolean can not be converted to {Article(type)} {type}"),
        CborReaderState.TextString => KinesisException.Serialization($"class java.lang.String can not be converted to {Article(type)} {type}"),
        CborReaderState.ByteString => KinesisException.Serialization($"class java.nio.HeapByteBuffer can not be converted to {Article(type)} {type}"),
        _ => KinesisException.Serialization($"class java.math.BigDecimal can not be converted to {Article(type)} {type}"),
    };

    // The service's texts say "an String", "an Integer", "a Blob": only Blob and Date take "a".
    private static string Article(string type) => type is "Blob" or "Date" ? "a" : "an";
}
