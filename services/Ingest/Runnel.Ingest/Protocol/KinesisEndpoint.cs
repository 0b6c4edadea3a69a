using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using Runnel.Core.Streams;
using Runnel.Gateway;
using Runnel.Ingest.Auth;
using Runnel.Ingest.Options;
using Runnel.Ingest.Streams;

namespace Runnel.Ingest.Protocol;

/// <summary>
/// One Kinesis stream operation's call: the gateway's request with its body as the pooled array the parsers decode
/// record data into in place (the body is the call's own until it ends).
/// </summary>
internal sealed class ApiCall
{
    public ApiCall(AwsRequest request)
    {
        Http = request.Http;
        Format = request.Format;
        Principal = request.Principal;
        // The gateway reads bodies into arrays from their start; anything else is copied once.
        if (MemoryMarshal.TryGetArray(request.Body, out var segment) && segment.Offset == 0)
            (Body, Length) = (segment.Array!, segment.Count);
        else
            (Body, Length) = (request.Body.ToArray(), request.Body.Length);
    }

    public HttpContext Http { get; }
    public byte[] Body { get; }
    public int Length { get; }
    public WireFormat Format { get; }
    public string Principal { get; }
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
/// <c>POST /</c>: the public port's AWS JSON 1.1 / CBOR 1.1 front door. Every <c>X-Amz-Target</c> (Kinesis's stream
/// operations, its consumer, encryption and policy operations, Firehose, Analytics) goes through the
/// <see cref="AwsOperationTable"/> to its handler, in process or forwarded to its service. Requests are authenticated
/// through <see cref="IRequestAuthenticator"/> and authorized per action; errors are answered in the service's shape: a
/// status, the <c>x-amzn-ErrorType</c> header and a body with <c>__type</c> and <c>message</c>.
/// </summary>
internal sealed class KinesisEndpoint(
    AwsOperationTable operations,
    IRequestAuthenticator authenticator,
    RequestAuthorizer authorizer,
    RouteCache routes,
    ShardIteratorCodec iterators,
    IOptions<RunnelOptions> runnel,
    ILogger<KinesisEndpoint> logger)
{
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
        var handler = operations.Find(target, out var operation);
        var known = handler is not null;
        byte[]? body = null;
        try
        {
            await AwsGateway.GuardAsync(http, format, handler is null ? target : operation, logger, async () =>
            {
                var length = 0;
                (body, length) = await AwsGateway.ReadBodyAsync(http);
                var content = body.AsMemory(0, length);
                // The front end's answers before any operation, in AWS's order: empty body, media type, plain JSON,
                // unknown operation.
                if (length == 0)
                    await AwsFrontDoor.RefuseEmptyBodyAsync(http, served && ReferenceEquals(contentType, WireDocument.JsonContentType), known);
                else if (!served)
                    await AwsFrontDoor.RefuseMediaTypeAsync(http, hasTarget: target.IndexOf('.') is > 0 and var dot && dot < target.Length - 1);
                else if (ReferenceEquals(contentType, WireDocument.PlainJsonContentType))
                    await AwsFrontDoor.AnswerPlainJsonAsync(http, content);
                else if (handler is null)
                    await AwsFrontDoor.RefuseUnknownOperationAsync(http, format);
                else
                {
                    var principal = await authenticator.AuthenticateAsync(http, content, http.RequestAborted);
                    await AuthorizeAsync(http, principal, handler, operation, content, format);
                    await handler.HandleAsync(new AwsRequest(http, operation, content, format, principal));
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
    /// Checks <c>&lt;service&gt;:&lt;Operation&gt;</c> (<c>kinesis:</c>, <c>firehose:</c>, <c>kinesisanalytics:</c>) against
    /// the principal's policy. The resource (the stream or consumer ARN the request names, for GetRecords the stream its
    /// iterator belongs to; the delivery stream or application ARN) is only worked out when the policy restricts
    /// resources for that action.
    /// </summary>
    private async ValueTask AuthorizeAsync(HttpContext http, string principal, IAwsOperations handler, string operation, ReadOnlyMemory<byte> body, WireFormat format)
    {
        var service = AwsServices.ActionPrefixOf(handler.TargetPrefix);
        var action = service + ":" + operation;
        if (await authorizer.AllowsAnyResourceAsync(principal, action, http.RequestAborted))
            return;
        var options = runnel.Value;
        string? resource;
        if (service == "firehose")
        {
            resource = KinesisResources.Member(body.Span, format, "DeliveryStreamName") is { } name
                ? Arns.DeliveryStream(options.Region, options.AccountId, name) : null;
        }
        else if (service == "kinesisanalytics")
        {
            resource = KinesisResources.Member(body.Span, format, "ApplicationName") is { } name
                ? $"arn:aws:kinesisanalytics:{options.Region}:{options.AccountId}:application/{name}" : null;
        }
        else if (operation == "GetRecords")
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
}
