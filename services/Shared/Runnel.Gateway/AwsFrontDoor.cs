using System.Text;
using Microsoft.AspNetCore.Http;
using Runnel.Core.Errors;
using Runnel.Core.Wire;

namespace Runnel.Gateway;

/// <summary>
/// What AWS's JSON-protocol front end answers before any operation runs: request ids, CORS for browser clients,
/// non-POST methods, media types it does not serve, and empty bodies. Each rule mirrors an answer AWS gives, so
/// clients and test suites written against AWS see the same status, media type and body here.
/// </summary>
public static class AwsFrontDoor
{
    /// <summary>The headers a browser client may read from an answer.</summary>
    private const string ExposedHeaders = "x-amzn-RequestId,x-amzn-ErrorType,x-amz-request-id,x-amz-id-2,x-amzn-ErrorMessage,Date";

    /// <summary>How long a browser may cache a preflight answer: 48 hours, as AWS answers.</summary>
    private const string PreflightMaxAgeSeconds = "172800";

    private const string UnresolvableOperation = "Unable to determine service/operation name to be authorized";

    /// <summary>
    /// Writes the headers every answer carries and answers a CORS preflight. Returns true when the request was
    /// answered here (a preflight), false when it goes on.
    /// </summary>
    public static bool Begin(HttpContext http)
    {
        var request = http.Request;
        var headers = http.Response.Headers;
        headers["x-amzn-RequestId"] = RequestIds.Next();
        var origin = request.Headers.Origin;
        var isPreflight = HttpMethods.IsOptions(request.Method) && origin.Count > 0;
        if (!isPreflight)
            headers["x-amz-id-2"] = RequestIds.NextHostId();
        if (origin.Count == 0)
            return false;
        headers.AccessControlAllowOrigin = "*";
        if (!isPreflight)
        {
            headers.AccessControlExposeHeaders = ExposedHeaders;
            return false;
        }
        if (request.Headers.AccessControlRequestHeaders is { Count: > 0 } asked)
            headers.AccessControlAllowHeaders = asked;
        if (request.Headers.AccessControlRequestMethod is { Count: > 0 } method)
            headers.AccessControlAllowMethods = method;
        headers.AccessControlMaxAge = PreflightMaxAgeSeconds;
        http.Response.StatusCode = 200;
        http.Response.ContentLength = 0;
        return true;
    }

    /// <summary>A method other than POST: AWS cannot tell the operation and refuses in XML with 403.</summary>
    public static Task RefuseMethodAsync(HttpContext http) => WriteXmlErrorAsync(http, 403, "AccessDeniedException", UnresolvableOperation);

    /// <summary>
    /// A body in a media type the protocol does not serve (neither JSON 1.1, CBOR 1.1 nor plain JSON): 403 in XML when
    /// the target names no operation, else 404 with an empty <c>UnknownOperationException</c> element.
    /// </summary>
    public static Task RefuseMediaTypeAsync(HttpContext http, bool hasTarget)
    {
        if (!hasTarget)
            return WriteXmlErrorAsync(http, 403, "AccessDeniedException", UnresolvableOperation);
        var bytes = "<UnknownOperationException/>\n"u8.ToArray();
        http.Response.StatusCode = 404;
        http.Response.ContentLength = bytes.Length;
        return http.Response.Body.WriteAsync(bytes, http.RequestAborted).AsTask();
    }

    /// <summary>
    /// An empty body: SerializationException for a known operation, UnknownOperationException otherwise, with no
    /// message; in JSON only when the request said JSON 1.1, in CBOR for every other media type.
    /// </summary>
    public static Task RefuseEmptyBodyAsync(HttpContext http, bool json11, bool knownOperation)
    {
        var type = knownOperation ? ErrorTypes.Serialization : ErrorTypes.UnknownOperation;
        return WriteTypeOnlyAsync(http, json11 ? WireFormat.Json : WireFormat.Cbor, type, json11 ? WireDocument.JsonContentType : WireDocument.CborContentType);
    }

    /// <summary>An unknown service or operation: 400 with the type alone, as AWS answers.</summary>
    public static Task RefuseUnknownOperationAsync(HttpContext http, WireFormat format) =>
        WriteTypeOnlyAsync(http, format, ErrorTypes.UnknownOperation, AwsAnswers.ContentTypeOf(http, format));

    /// <summary>
    /// Plain <c>application/json</c> on the AWS endpoint reaches AWS's generic service layer, which answers 200 with an
    /// envelope naming the fault: SerializationException for a body that is not a JSON object, else
    /// UnknownOperationException (it serves no operation in that media type).
    /// </summary>
    public static async Task AnswerPlainJsonAsync(HttpContext http, ReadOnlyMemory<byte> body)
    {
        var isObject = false;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(body);
            isObject = doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object;
        }
        catch (System.Text.Json.JsonException)
        {
        }
        var text = isObject
            ? """{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException","message":null},"Version":"1.0"}"""
            : """{"Output":{"__type":"com.amazon.coral.service#SerializationException","Message":null},"Version":"1.0"}""";
        var bytes = Encoding.UTF8.GetBytes(text);
        http.Response.StatusCode = 200;
        http.Response.ContentType = WireDocument.PlainJsonContentType;
        http.Response.ContentLength = bytes.Length;
        await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteTypeOnlyAsync(HttpContext http, WireFormat format, string type, string contentType)
    {
        http.Response.Headers["x-amzn-ErrorType"] = type;
        using var writer = new WireWriter(format, 64);
        writer.StartObject();
        writer.String("__type", type);
        writer.EndObject();
        var bytes = writer.Complete();
        http.Response.StatusCode = 400;
        http.Response.ContentType = contentType;
        http.Response.ContentLength = bytes.Length;
        await http.Response.BodyWriter.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
    }

    private static Task WriteXmlErrorAsync(HttpContext http, int status, string type, string message)
    {
        var bytes = Encoding.UTF8.GetBytes($"<{type}>\n  <Message>{message}</Message>\n</{type}>\n");
        http.Response.StatusCode = status;
        http.Response.ContentLength = bytes.Length;
        return http.Response.Body.WriteAsync(bytes, http.RequestAborted).AsTask();
    }
}
