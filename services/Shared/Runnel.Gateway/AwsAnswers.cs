using Microsoft.AspNetCore.Http;
using Runnel.Core.Wire;

namespace Runnel.Gateway;

/// <summary>
/// Answers in the AWS JSON 1.1 / CBOR 1.1 shape. An answer repeats the request's media type (kept in
/// <c>HttpContext.Items</c> when it is one of the less common spellings); errors carry <c>x-amzn-ErrorType</c> and a
/// body with <c>__type</c> and <c>message</c>.
/// </summary>
public static class AwsAnswers
{
    /// <summary>A 200 whose body is one object with the members <paramref name="members"/> writes.</summary>
    public static async Task WriteAsync(AwsRequest request, Action<WireWriter> members, int initialCapacity = 512)
    {
        using var writer = new WireWriter(request.Format, initialCapacity);
        writer.StartObject();
        members(writer);
        writer.EndObject();
        await WriteBodyAsync(request.Http, request.Format, writer.Complete(), 200).ConfigureAwait(false);
    }

    public static Task WriteEmptyAsync(AwsRequest request) => WriteAsync(request, static _ => { }, 16);

    public static async Task WriteErrorAsync(HttpContext http, WireFormat format, string type, string message, int status)
    {
        http.Response.Headers["x-amzn-ErrorType"] = type;
        using var writer = new WireWriter(format, 256);
        writer.StartObject();
        writer.String("__type", type);
        writer.String("message", message);
        writer.EndObject();
        await WriteBodyAsync(http, format, writer.Complete(), status).ConfigureAwait(false);
    }

    public static async Task WriteBodyAsync(HttpContext http, WireFormat format, ReadOnlyMemory<byte> bytes, int status)
    {
        var response = http.Response;
        response.StatusCode = status;
        response.ContentType = ContentTypeOf(http, format);
        response.ContentLength = bytes.Length;
        await response.BodyWriter.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Remembers the request's media type for the answer when it is not the format's usual one.</summary>
    public static void RememberContentType(HttpContext http, string contentType)
    {
        if (!ReferenceEquals(contentType, WireDocument.JsonContentType) && !ReferenceEquals(contentType, WireDocument.CborContentType))
            http.Items[typeof(WireFormat)] = contentType;
    }

    public static string ContentTypeOf(HttpContext http, WireFormat format) =>
        http.Items[typeof(WireFormat)] as string ?? (format == WireFormat.Cbor ? WireDocument.CborContentType : WireDocument.JsonContentType);
}
