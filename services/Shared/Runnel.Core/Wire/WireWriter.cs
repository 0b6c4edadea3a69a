using System.Buffers;
using System.Formats.Cbor;
using System.Text.Json;

namespace Runnel.Core.Wire;

/// <summary>
/// Writes one Kinesis answer or event payload in the request's wire format. JSON: timestamps are epoch seconds with a
/// fraction and blobs base64. CBOR: maps and arrays of indefinite length (the AWS SDKs accept both),
/// blobs as byte strings, timestamps as tag 1 over epoch milliseconds, which is what the AWS SDKs'
/// CBOR protocol reads and writes.
/// </summary>
public sealed class WireWriter : IDisposable
{
    private readonly Utf8JsonWriter? _json;
    private readonly CborWriter? _cbor;
    private readonly PooledBufferWriter? _output;

    public WireWriter(WireFormat format, int initialCapacity = 1024)
    {
        _output = new PooledBufferWriter(initialCapacity);
        if (format == WireFormat.Cbor)
            _cbor = new CborWriter(CborConformanceMode.Lax, convertIndefiniteLengthEncodings: false, allowMultipleRootLevelValues: false, initialCapacity: initialCapacity);
        else
            _json = new Utf8JsonWriter(_output, JsonOptions);
    }

    /// <summary>
    /// JSON written straight into <paramref name="destination"/> (a response body) instead of a buffer: the bytes are
    /// the same as <see cref="Complete"/> would return. <see cref="Commit"/> hands what is written so far to it.
    /// </summary>
    public WireWriter(IBufferWriter<byte> destination)
    {
        _json = new Utf8JsonWriter(destination, JsonOptions);
    }

    private static JsonWriterOptions JsonOptions => new() { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Bytes written so far, committed to the destination or not (streaming JSON only).</summary>
    public long BytesWritten => _json is null ? 0 : _json.BytesCommitted + _json.BytesPending;

    /// <summary>Advances the destination past everything written so far (streaming JSON only).</summary>
    public void Commit() => _json!.Flush();

    public void StartObject()
    {
        if (_cbor is not null)
            _cbor.WriteStartMap(null);
        else
            _json!.WriteStartObject();
    }

    public void StartObject(string name)
    {
        Name(name);
        StartObject();
    }

    public void EndObject()
    {
        if (_cbor is not null)
            _cbor.WriteEndMap();
        else
            _json!.WriteEndObject();
    }

    public void StartArray(string name)
    {
        Name(name);
        StartArray();
    }

    public void EndArray()
    {
        if (_cbor is not null)
            _cbor.WriteEndArray();
        else
            _json!.WriteEndArray();
    }

    /// <summary>An array as an element of an enclosing array.</summary>
    public void StartArray()
    {
        if (_cbor is not null)
            _cbor.WriteStartArray(null);
        else
            _json!.WriteStartArray();
    }

    public void NumberValue(long value)
    {
        if (_cbor is not null)
            _cbor.WriteInt64(value);
        else
            _json!.WriteNumberValue(value);
    }

    public void BooleanValue(bool value)
    {
        if (_cbor is not null)
            _cbor.WriteBoolean(value);
        else
            _json!.WriteBooleanValue(value);
    }

    private void Name(string name)
    {
        if (_cbor is not null)
            _cbor.WriteTextString(name);
        else
            _json!.WritePropertyName(name);
    }

    /// <summary>Writes a member; a null value is omitted, as the service does.</summary>
    public void String(string name, string? value)
    {
        if (value is null)
            return;
        Name(name);
        StringValue(value);
    }

    /// <summary>A tag list as every AWS service writes it: <c>name: [{"Key": k, "Value": v}, ...]</c>, in the given order.</summary>
    public void TagList(string name, IEnumerable<KeyValuePair<string, string?>> tags)
    {
        StartArray(name);
        foreach (var (key, value) in tags)
        {
            StartObject();
            String("Key", key);
            String("Value", value);
            EndObject();
        }
        EndArray();
    }

    public void StringValue(string value)
    {
        if (_cbor is not null)
            _cbor.WriteTextString(value);
        else
            _json!.WriteStringValue(value);
    }

    public void Null(string name)
    {
        Name(name);
        if (_cbor is not null)
            _cbor.WriteNull();
        else
            _json!.WriteNullValue();
    }

    public void Number(string name, long value)
    {
        Name(name);
        if (_cbor is not null)
            _cbor.WriteInt64(value);
        else
            _json!.WriteNumberValue(value);
    }

    public void Boolean(string name, bool value)
    {
        Name(name);
        if (_cbor is not null)
            _cbor.WriteBoolean(value);
        else
            _json!.WriteBooleanValue(value);
    }

    public void Timestamp(string name, long unixMs)
    {
        Name(name);
        if (_cbor is not null)
        {
            _cbor.WriteTag(CborTag.UnixTimeSeconds);
            _cbor.WriteInt64(unixMs);
        }
        else
        {
            _json!.WriteNumberValue(unixMs / 1000m);
        }
    }

    public void Timestamp(string name, DateTimeOffset value) => Timestamp(name, value.ToUnixTimeMilliseconds());

    public void Blob(string name, ReadOnlySpan<byte> value)
    {
        Name(name);
        if (_cbor is not null)
            _cbor.WriteByteString(value);
        else
            _json!.WriteBase64StringValue(value);
    }

    /// <summary>Finishes the document and returns its bytes (valid until this writer is disposed).</summary>
    public ReadOnlyMemory<byte> Complete()
    {
        if (_output is null)
            throw new InvalidOperationException("A streaming writer has no buffer; use Commit.");
        if (_cbor is not null)
        {
            var span = _output.GetSpan(_cbor.BytesWritten);
            var written = _cbor.Encode(span);
            _output.Advance(written);
        }
        else
        {
            _json!.Flush();
        }
        return _output.WrittenMemory;
    }

    public void Dispose()
    {
        _json?.Dispose();
        _output?.Dispose();
    }
}
