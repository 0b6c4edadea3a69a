using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.Ingest.Options;
using Runnel.Gateway;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Authenticates and authorizes every route of the public port other than the Kinesis protocol (<c>POST /</c>, which
/// does it per operation): the REST producer route, Lambda's event-source-mapping API, key management, metrics,
/// status and hot keys. Only <c>/health/*</c> stays open, and <c>/internal/*</c>, the node-to-node API, which the
/// internal listener's filter refuses on this port. The body is read once (it is covered by the signature) and handed on to the route.
/// </summary>
internal static class RouteAuthentication
{
    public static void UseRouteAuthentication(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var path = http.Request.Path.Value ?? "/";
        // The internal listener's filter has already admitted (or refused) everything that came in on it.
        if (IsOpen(http.Request.Method, path) || http.RequestServices.GetRequiredService<InternalEndpoint>().IsInternalConnection(http))
        {
            await next(http);
            return;
        }
        try
        {
            var authenticator = http.RequestServices.GetRequiredService<IRequestAuthenticator>();
            var authorizer = http.RequestServices.GetRequiredService<RequestAuthorizer>();
            var body = await ReadBodyAsync(http);
            var principal = await authenticator.AuthenticateAsync(http, body, http.RequestAborted);
            var (action, resource) = ActionOf(http, path);
            if (!await authorizer.AllowsAnyResourceAsync(principal, action, http.RequestAborted))
                await authorizer.AuthorizeAsync(principal, action, resource, http.RequestAborted);
            http.Items[PrincipalItem] = principal;
        }
        catch (KinesisException e)
        {
            await AwsAnswers.WriteErrorAsync(http, WireFormat.Json, e.Type, e.Message, e.StatusCode);
            return;
        }
        await next(http);
    });

    /// <summary>Where the authenticated principal of a route request is left for the route.</summary>
    public const string PrincipalItem = "runnel.principal";

    private static bool IsOpen(string method, string path) =>
        // The AWS protocols authenticate per operation; other methods on "/" get the front door's refusals only.
        path == "/"
        || path.StartsWith("/health/", StringComparison.Ordinal)
        || path.StartsWith("/internal/", StringComparison.Ordinal);

    /// <summary>The IAM-style action and resource of a route request.</summary>
    private static (string Action, string Resource) ActionOf(HttpContext http, string path)
    {
        var runnel = http.RequestServices.GetRequiredService<IOptions<RunnelOptions>>().Value;
        var segments = path.Trim('/').Split('/');
        var method = http.Request.Method;
        if (segments is ["v1", "streams", var stream, "records"])
            return ("kinesis:PutRecords", Arns.Stream(runnel.Region, runnel.AccountId, stream));
        if (segments is ["v1", "streams", var hot, "hot-keys"])
            return ("runnel:GetHotKeys", Arns.Stream(runnel.Region, runnel.AccountId, hot));
        if (segments is ["2015-03-31", "event-source-mappings", ..])
        {
            var single = segments.Length > 2 && segments[2].Length > 0;
            var operation = method switch
            {
                "POST" => "CreateEventSourceMapping",
                "PUT" => "UpdateEventSourceMapping",
                "DELETE" => "DeleteEventSourceMapping",
                _ => single ? "GetEventSourceMapping" : "ListEventSourceMappings",
            };
            return ("lambda:" + operation, RequestAuthorizer.AnyResource);
        }
        if (segments is ["v1", "access-keys", ..])
            return ("runnel:" + AccessKeysApi.OperationOf(method, segments), RequestAuthorizer.AnyResource);
        if (segments is ["metrics"])
            return ("runnel:GetMetrics", RequestAuthorizer.AnyResource);
        if (segments is ["v1", _, "status"])
            return ("runnel:GetStatus", RequestAuthorizer.AnyResource);
        // Any other route (another service's internal forwarding target in Standalone, or nothing at all) is for
        // administrators only.
        return ("runnel:CallRoute", RequestAuthorizer.AnyResource);
    }

    /// <summary>
    /// Reads the whole body (at most <see cref="AwsGateway.MaxBodyBytes"/>; broken framing is the client's 400) and puts
    /// it back for the route.
    /// </summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpContext http)
    {
        var (pooled, length) = await AwsGateway.ReadBodyAsync(http);
        byte[] copy;
        try
        {
            copy = pooled.AsSpan(0, length).ToArray();
        }
        finally
        {
            AwsGateway.ReturnBody(pooled);
        }
        http.Request.Body = new MemoryStream(copy, writable: false);
        return copy;
    }
}
