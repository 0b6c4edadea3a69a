using Microsoft.Extensions.Options;
using Runnel.Core.Streams;
using Runnel.Gateway;
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
internal sealed class KinesisEndpoint(
    KinesisOperations api,
    AwsOperationTable operations,
    IRequestAuthenticator authenticator,
    RequestAuthorizer authorizer,
    RouteCache routes,
    ShardIteratorCodec iterators,
    IOptions<RunnelOptions> runnel,
    ILogger<KinesisEndpoint> logger)
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
        if (operation is null || !api.IsKnown(operation))
            handler = operations.Find(target, out operation);
        var known = handler is not null || api.IsKnown(operation!);
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
                    await AwsGateway.InvokeAsync(http, handler, operation!, format, body.AsMemory(0, length), async b =>
                    {
                        var principal = await authenticator.AuthenticateAsync(http, b, http.RequestAborted);
                        await AuthorizeAsync(http, principal, handler, operation!, b, format);
                        return principal;
                    }, logger);
                else
                {
                    var principal = await authenticator.AuthenticateAsync(http, body.AsMemory(0, length), http.RequestAborted);
                    await AuthorizeAsync(http, principal, null, operation!, body.AsMemory(0, length), format);
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
    /// Checks <c>&lt;service&gt;:&lt;Operation&gt;</c> (<c>kinesis:</c>, <c>firehose:</c>, <c>kinesisanalytics:</c>) against
    /// the principal's policy. The resource (the stream or consumer ARN the request names, for GetRecords the stream its
    /// iterator belongs to; the delivery stream or application ARN) is only worked out when the policy restricts
    /// resources for that action.
    /// </summary>
    private async ValueTask AuthorizeAsync(HttpContext http, string principal, IAwsOperations? handler, string operation, ReadOnlyMemory<byte> body, WireFormat format)
    {
        var service = handler is null || handler.TargetPrefix == AwsServices.KinesisPrefix ? "kinesis"
            : handler.Service == AwsServices.Firehose.Name ? "firehose" : "kinesisanalytics";
        var action = service + ":" + operation;
        if (await authorizer.AllowsAnyResourceAsync(principal, action, http.RequestAborted))
            return;
        var options = runnel.Value;
        string? resource;
        if (operation == "GetRecords" && handler is null)
        {
            var iterator = KinesisResources.Member(body.Span, format, "ShardIterator");
            var route = iterator is null ? null : await routes.FindAsync(iterators.Decode(iterator).StreamId);
            resource = route is null ? null : Arns.Stream(options.Region, options.AccountId, route.Name);
        }
        else if (service == "firehose")
        {
            resource = KinesisResources.Member(body.Span, format, "DeliveryStreamName") is { } name
                ? $"arn:aws:firehose:{options.Region}:{options.AccountId}:deliverystream/{name}" : null;
        }
        else if (service == "kinesisanalytics")
        {
            resource = KinesisResources.Member(body.Span, format, "ApplicationName") is { } name
                ? $"arn:aws:kinesisanalytics:{options.Region}:{options.AccountId}:application/{name}" : null;
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
}
