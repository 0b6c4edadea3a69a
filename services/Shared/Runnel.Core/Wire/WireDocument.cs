using System.Runtime.InteropServices;
using System.Text.Json;

namespace Runnel.Core.Wire;

/// <summary>
/// The AWS JSON protocols' media types, and requests as a document for the operations that read one whole (Firehose,
/// Analytics, the consumer operations) instead of pulling members from <see cref="WireReader"/>. A CBOR request becomes
/// the equivalent JSON document (see <see cref="WireReader.ReadDocument"/>), so each operation has one parser.
/// </summary>
public static class WireDocument
{
    public const string JsonContentType = "application/x-amz-json-1.1";
    public const string CborContentType = "application/x-amz-cbor-1.1";
    public const string PlainJsonContentType = "application/json";

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

    /// <summary>
    /// Parses a request body with <see cref="WireReader"/>, as the data plane's operations read theirs; an empty body is
    /// an empty object, malformed input is SerializationException. The document holds its own copy of the data.
    /// </summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> body, WireFormat format)
    {
        // The reader works on a whole array from its start; pooled request bodies are exactly that.
        var array = MemoryMarshal.TryGetArray(body, out var segment) && segment.Offset == 0 ? segment.Array! : body.ToArray();
        return WireReader.Create(array, body.Length, format).ReadDocument();
    }
}
