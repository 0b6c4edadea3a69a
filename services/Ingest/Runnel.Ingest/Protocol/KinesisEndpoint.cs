using System.Buffers;
using System.Formats.Cbor;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.FanOut.Apis;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Operations;
using Runnel.Ingest.Options;
using Runnel.Ingest.Streams;

namespace Runnel.Ingest.Protocol;

/// <summary>One request of the Kinesis wire protocol: its body (pooled, owned by the call) and format.</summary>
internal sealed class ApiCall(HttpContext http, byte[] body, int length, WireFormat format, string principal)
{
    public HttpContext Http { get; } = http;
    public byte[] Body { get; } = body;
    public int Length { get; } = length;
    public WireFormat Format { get; } = format;
    public string Principal { get; } = principal;
    public CancellationToken Aborted => Http.RequestAborted;

    public WireReader Reader() => WireReader.Create(Body, Length, Format);

    public WireWriter Writer(int initialCapacity = 512) => new(Format, initialCapacity);

    public Task RespondAsync(WireWriter writer) => KinesisEndpoint.WriteBodyAsync(Http, Format, writer.Complete(), 200);

    /// <summary>
    /// Starts a 200 answer of unknown length (chunked on HTTP/1.1) and returns a JSON writer into the response body;
    /// the caller commits and flushes it as it goes (<see cref="FlushAsync"/>) and once at the end.
    /// </summary>
    public WireWriter StreamingJsonWriter()
    {
        var response = Http.Response;
        response.StatusCode = 200;
        response.ContentType = Http.Items[typeof(WireFormat)] as string ?? KinesisEndpoint.JsonContentType;
        return new WireWriter(response.BodyWriter);
    }

    /// <summary>Commits what <paramref name="writer"/> holds and sends it, waiting while the client is slower.</summary>
    public async Task FlushAsync(WireWriter writer)
    {
        writer.Commit();
        await Http.Response.BodyWriter.FlushAsync(Aborted);
    }

    public async Task RespondEmptyAsync()
    {
        using var writer = Writer(16);
        writer.StartObject();
        writer.EndObject();
        await RespondAsync(writer);
    }
}

/// <summary>
/// <c>POST /</c>: the Kinesis JSON 1.1 / CBOR 1.1 protocol. Picks the operation from
/// <c>X-Amz-Target</c>, authenticates, and answers errors in the service's shape: a status, the
/// <c>x-amzn-ErrorType</c> header and a body with <c>__type</c> and <c>message</c>.
/// </summary>
internal sealed class KinesisEndpoint(
    KinesisApi api,
    IRequestAuthenticator authenticator,
    RequestAuthorizer authorizer,
    RouteCache routes,
    ShardIteratorCodec iterators,
    IOptions<RunnelOptions> runnel,
    ILogger<KinesisEndpoint> logger)
{
    private const string TargetPrefix = "Kinesis_20131202.";
    public const string JsonContentType = "application/x-amz-json-1.1";
    public const string CborContentType = "application/x-amz-cbor-1.1";

    /// <summary>
    /// Largest accepted body: a 10 MiB PutRecords batch is about 14 MiB once base64-encoded, and a
    /// single record may be 10 MiB (UpdateMaxRecordSize), so 20 MiB leaves room for the envelope.
    /// </summary>
    public const int MaxBodyBytes = 20 * 1024 * 1024;

    public async Task HandleAsync(HttpContext http)
    {
        http.Response.Headers["x-amzn-RequestId"] = RequestIds.Next();
        var (format, contentType) = FormatOf(http.Request.ContentType);
        // The answer repeats the request's media type; only the less common spellings need remembering.
        if (!ReferenceEquals(contentType, JsonContentType) && !ReferenceEquals(contentType, CborContentType))
            http.Items[typeof(WireFormat)] = contentType;
        byte[]? body = null;
        try
        {
            var operation = OperationOf(http.Request.Headers["X-Amz-Target"].ToString());
            if (operation is not null && FanOutKinesisApi.Handles(operation))
            {
                await HandleConsumerOperationAsync(http, operation, format);
                return;
            }
            if (operation is null || !KinesisApi.IsKnown(operation))
                throw new KinesisException(ErrorTypes.UnknownOperation, operation is null ? "Missing or unknown X-Amz-Target." : $"Operation {operation} is not supported.");
            var length = 0;
            (body, length) = await ReadBodyAsync(http);
            var principal = await authenticator.AuthenticateAsync(http, body.AsMemory(0, length), http.RequestAborted);
            await AuthorizeAsync(http, principal, operation, body.AsMemory(0, length), format);
            var call = new ApiCall(http, body, length, format, principal);
            try
            {
                await api.DispatchAsync(operation, call);
            }
            catch (Exception e) when (e is JsonException or CborContentException or FormatException
                || (e is InvalidOperationException && e.Source == "System.Formats.Cbor"))
            {
                throw KinesisException.Serialization(e is JsonException ? "Malformed JSON request body." : "Malformed CBOR request body.");
            }
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await WriteErrorAsync(http, format, e.Type, e.Message, e.StatusCode);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled fault in {Target}", http.Request.Headers["X-Amz-Target"].ToString());
            if (!http.Response.HasStarted)
                await WriteErrorAsync(http, format, ErrorTypes.InternalFailure, "Internal service failure.", 500);
        }
        finally
        {
            if (body is not null)
                ArrayPool<byte>.Shared.Return(body);
        }
    }

    /// <summary>
    /// The five consumer operations belong to FanOut. When its module runs in this process (Standalone) it is called
    /// directly; otherwise <c>FanOut:Address</c> names the FanOut service and the request is forwarded as it came,
    /// the answer (an event stream for SubscribeToShard) streamed back. JSON 1.1 and CBOR 1.1 are both served.
    /// </summary>
    private async Task HandleConsumerOperationAsync(HttpContext http, string operation, WireFormat format)
    {
        byte[]? body = null;
        try
        {
            var length = 0;
            (body, length) = await ReadBodyAsync(http);
            var principal = await authenticator.AuthenticateAsync(http, body.AsMemory(0, length), http.RequestAborted);
            await AuthorizeAsync(http, principal, operation, body.AsMemory(0, length), format);
            var local = http.RequestServices.GetService<FanOutKinesisApi>();
            if (local is not null)
            {
                await local.HandleAsync(operation, body.AsMemory(0, length), http, format);
                return;
            }
            var forwarder = http.RequestServices.GetService<FanOutForwarder>();
            if (forwarder is null || !forwarder.IsConfigured)
                throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {operation} needs the FanOut service, which is not configured (FanOut:Address).");
            await forwarder.ForwardAsync(http, body.AsMemory(0, length), format == WireFormat.Cbor ? KinesisEndpoint.CborContentType : KinesisEndpoint.JsonContentType);
        }
        catch (KinesisException e)
        {
            if (!http.Response.HasStarted)
                await WriteErrorAsync(http, format, e.Type, e.Message, e.StatusCode);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Unhandled fault in {Operation}", operation);
            if (!http.Response.HasStarted)
                await WriteErrorAsync(http, format, ErrorTypes.InternalFailure, "Internal service failure.", 500);
        }
        finally
        {
            if (body is not null)
                ArrayPool<byte>.Shared.Return(body);
        }
    }

    /// <summary>
    /// Checks <c>kinesis:&lt;Operation&gt;</c> against the principal's policy. The resource (the stream or consumer ARN the
    /// request names; for GetRecords, the stream its iterator belongs to) is only worked out when the policy restricts
    /// resources for that action.
    /// </summary>
    private async ValueTask AuthorizeAsync(HttpContext http, string principal, string operation, ReadOnlyMemory<byte> body, WireFormat format)
    {
        var action = "kinesis:" + operation;
        if (await authorizer.AllowsAnyResourceAsync(principal, action, http.RequestAborted))
            return;
        var options = runnel.Value;
        string? resource;
        if (operation == "GetRecords")
        {
            var iterator = KinesisResources.Member(body.Span, format, "ShardIterator");
            var route = iterator is null ? null : await routes.FindAsync(iterators.Decode(iterator).StreamId);
            resource = route is null ? null : Arns.Stream(options.Region, options.AccountId, route.Name);
        }
        else
        {
            resource = KinesisResources.Find(body.Span, format, options.Region, options.AccountId);
        }
        await authorizer.AuthorizeAsync(principal, action, resource ?? RequestAuthorizer.AnyResource, http.RequestAborted);
    }

    /// <summary>
    /// The operation named by <c>X-Amz-Target</c>; the data-plane names come back as literals so the hot calls
    /// allocate no substring.
    /// </summary>
    private static string? OperationOf(string target)
    {
        if (!target.StartsWith(TargetPrefix, StringComparison.Ordinal))
            return null;
        var name = target.AsSpan(TargetPrefix.Length);
        return name switch
        {
            "PutRecord" => "PutRecord",
            "PutRecords" => "PutRecords",
            "GetRecords" => "GetRecords",
            "GetShardIterator" => "GetShardIterator",
            _ => name.ToString(),
        };
    }

    private static (WireFormat, string) FormatOf(string? contentType)
    {
        var media = (contentType ?? "").AsSpan();
        var semicolon = media.IndexOf(';');
        if (semicolon >= 0)
            media = media[..semicolon];
        media = media.Trim();
        if (media.Equals(CborContentType, StringComparison.OrdinalIgnoreCase))
            return (WireFormat.Cbor, CborContentType);
        if (media.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            return (WireFormat.Json, "application/json");
        if (media.Equals("application/x-amz-json-1.0", StringComparison.OrdinalIgnoreCase))
            return (WireFormat.Json, "application/x-amz-json-1.0");
        return (WireFormat.Json, JsonContentType);
    }

    /// <summary>Reads the whole body into one pooled array (the caller returns it).</summary>
    private static async Task<(byte[], int)> ReadBodyAsync(HttpContext http)
    {
        var declared = http.Request.ContentLength;
        if (declared > MaxBodyBytes)
            throw new KinesisException(ErrorTypes.Serialization, $"The request body exceeds {MaxBodyBytes} bytes.", 413);
        var buffer = ArrayPool<byte>.Shared.Rent(declared is > 0 ? (int)declared.Value : 4096);
        var length = 0;
        var reader = http.Request.BodyReader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(http.RequestAborted);
                var data = result.Buffer;
                if (length + data.Length > MaxBodyBytes)
                    throw new KinesisException(ErrorTypes.Serialization, $"The request body exceeds {MaxBodyBytes} bytes.", 413);
                if (length + data.Length > buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Max(buffer.Length * 2L, length + data.Length));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                data.CopyTo(buffer.AsSpan(length));
                length += (int)data.Length;
                reader.AdvanceTo(data.End);
                if (result.IsCompleted)
                    break;
            }
            return (buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    internal static async Task WriteErrorAsync(HttpContext http, WireFormat format, string type, string message, int status)
    {
        http.Response.Headers["x-amzn-ErrorType"] = type;
        using var writer = new WireWriter(format, 256);
        writer.StartObject();
        writer.String("__type", type);
        writer.String("message", message);
        writer.EndObject();
        await WriteBodyAsync(http, format, writer.Complete(), status);
    }

    internal static async Task WriteBodyAsync(HttpContext http, WireFormat format, ReadOnlyMemory<byte> bytes, int status)
    {
        var response = http.Response;
        response.StatusCode = status;
        response.ContentType = http.Items[typeof(WireFormat)] as string ?? (format == WireFormat.Cbor ? CborContentType : JsonContentType);
        response.ContentLength = bytes.Length;
        await response.BodyWriter.WriteAsync(bytes, http.RequestAborted);
    }
}
