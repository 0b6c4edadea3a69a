using Runnel.Gateway;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Operations;

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

    public Task RespondAsync(WireWriter writer) => AwsAnswers.WriteBodyAsync(Http, Format, writer.Complete(), 200);

    /// <summary>
    /// Starts a 200 answer of unknown length (chunked on HTTP/1.1) and returns a JSON writer into the response body;
    /// the caller commits and flushes it as it goes (<see cref="FlushAsync"/>) and once at the end.
    /// </summary>
    public WireWriter StreamingJsonWriter()
    {
        var response = Http.Response;
        response.StatusCode = 200;
        response.ContentType = AwsAnswers.ContentTypeOf(Http, WireFormat.Json);
        return new WireWriter(response.BodyWriter);
    }

    /// <summary>Commits what <paramref name="writer"/> holds and sends it, waiting while the client is slower.</summary>
    public async Task FlushAsync(WireWriter writer)
    {
        writer.Commit();
        await Http.Response.BodyWriter.FlushAsync(Aborted);
    }

    /// <summary>An operation without output answers 200 with an empty body, as AWS does.</summary>
    public Task RespondEmptyAsync() => AwsAnswers.WriteEmptyAsync(Http, Format);
}

/// <summary>
/// <c>POST /</c>: the public port's AWS JSON 1.1 / CBOR 1.1 front door. Kinesis's own operations are run here on
/// the data path's pooled buffers; every other target (Kinesis's consumer operations, Firehose, Analytics) goes
/// through the <see cref="AwsOperationTable"/> to its service, in process or forwarded. Both authenticate through
/// <see cref="IRequestAuthenticator"/> and answer errors in the service's shape: a status, the
/// <c>x-amzn-ErrorType</c> header and a body with <c>__type</c> and <c>message</c>.
/// </summary>
internal sealed class KinesisEndpoint(KinesisApi api, AwsOperationTable operations, IRequestAuthenticator authenticator, ILogger<KinesisEndpoint> logger)
{
    private const string TargetPrefix = AwsServices.KinesisPrefix;

    public async Task HandleAsync(HttpContext http)
    {
        if (AwsFrontDoor.Begin(http))
            return;
        if (!HttpMethods.IsPost(http.Request.Method))
        {
            await AwsFrontDoor.RefuseMethodAsync(http);
            return;
        }
        var (format, contentType, served) = WireDocument.Detect(http.Request.ContentType);
        AwsAnswers.RememberContentType(http, contentType);
        var target = http.Request.Headers["X-Amz-Target"].ToString();
        var operation = OperationOf(target);
        IAwsOperations? handler = null;
        if (operation is null || !KinesisApi.IsKnown(operation))
            handler = operations.Find(target, out operation);
        var known = handler is not null || KinesisApi.IsKnown(operation!);
        byte[]? body = null;
        try
        {
            await AwsGateway.GuardAsync(http, format, operation ?? target, logger, async () =>
            {
                var length = 0;
                (body, length) = await AwsGateway.ReadBodyAsync(http);
                // The front end's answers before any operation, in AWS's order: empty body, media type, plain JSON,
                // unknown operation.
                if (length == 0)
                    await AwsFrontDoor.RefuseEmptyBodyAsync(http, served && ReferenceEquals(contentType, WireDocument.JsonContentType), known);
                else if (!served)
                    await AwsFrontDoor.RefuseMediaTypeAsync(http, hasTarget: target.IndexOf('.') is > 0 and var dot && dot < target.Length - 1);
                else if (ReferenceEquals(contentType, WireDocument.PlainJsonContentType))
                    await AwsFrontDoor.AnswerPlainJsonAsync(http, body.AsMemory(0, length));
                else if (!known)
                    await AwsFrontDoor.RefuseUnknownOperationAsync(http, format);
                else if (handler is not null)
                    await AwsGateway.InvokeAsync(http, handler, operation!, format, body.AsMemory(0, length), b => authenticator.AuthenticateAsync(http, b, http.RequestAborted), logger);
                else
                {
                    var principal = await authenticator.AuthenticateAsync(http, body.AsMemory(0, length), http.RequestAborted);
                    await api.DispatchAsync(operation!, new ApiCall(http, body, length, format, principal));
                }
            });
        }
        finally
        {
            if (body is not null)
                AwsGateway.ReturnBody(body);
        }
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
}
