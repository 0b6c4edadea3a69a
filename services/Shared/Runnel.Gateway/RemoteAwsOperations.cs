using Microsoft.AspNetCore.Http;
using Runnel.Core.Errors;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.Gateway;

/// <summary>
/// A service's operations served by forwarding: the request goes to the owning service's
/// <see cref="AwsService.RoutePath"/> with the same target header, media type and body, plus the authenticated
/// principal, and the answer (an event stream for SubscribeToShard) is streamed back as it is produced.
/// </summary>
public sealed class RemoteAwsOperations(AwsService service, string? address, IHttpClientFactory clients, ServiceInvocation invocation) : IAwsOperations
{
    public const string HttpClientName = "Runnel.Gateway";

    public string Service => service.Name;
    public string TargetPrefix => service.TargetPrefix;
    public bool Handles(string operation) => service.Owns(operation);

    private Uri BaseAddress => invocation.BaseAddressFor(service.DaprAppId, string.IsNullOrWhiteSpace(address) ? $"http://{service.DaprAppId}" : address);

    public async Task HandleAsync(AwsRequest request)
    {
        var http = request.Http;
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseAddress, service.RoutePath.TrimStart('/')))
        {
            Content = new ReadOnlyMemoryContent(request.Body),
        };
        message.Headers.TryAddWithoutValidation("X-Amz-Target", http.Request.Headers["X-Amz-Target"].ToString());
        message.Headers.TryAddWithoutValidation(AwsGateway.PrincipalHeader, request.Principal);
        message.Content.Headers.TryAddWithoutValidation("Content-Type", AwsAnswers.ContentTypeOf(http, request.Format));
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(HttpClientName).SendAsync(message, HttpCompletionOption.ResponseHeadersRead, request.Aborted).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new KinesisException(ErrorTypes.InternalFailure, $"The {service.Name} service is unreachable: {e.Message}", 500);
        }
        using (response)
            await CopyAnswerAsync(response, http, streamed: true).ConfigureAwait(false);
    }

    /// <summary>
    /// Forwards a request of the service's own REST API (e.g. Lambda's event-source-mapping paths) as it came:
    /// method, path, query, the body already read (and authenticated) and content type; the answer's status, error
    /// type and body come back unchanged.
    /// </summary>
    public async Task ForwardRestAsync(HttpContext http, ReadOnlyMemory<byte> body, string principal)
    {
        var path = http.Request.Path.Value!.TrimStart('/') + http.Request.QueryString.Value;
        using var message = new HttpRequestMessage(new HttpMethod(http.Request.Method), new Uri(BaseAddress, path));
        message.Headers.TryAddWithoutValidation(AwsGateway.PrincipalHeader, principal);
        if (!body.IsEmpty)
        {
            message.Content = new ReadOnlyMemoryContent(body);
            if (http.Request.ContentType is { } type)
                message.Content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(HttpClientName).SendAsync(message, HttpCompletionOption.ResponseContentRead, http.RequestAborted).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            http.Response.StatusCode = 500;
            http.Response.Headers["x-amzn-ErrorType"] = "ServiceException";
            await http.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["Type"] = "Service", ["message"] = $"The {service.Name} service is unreachable: {e.Message}" }, http.RequestAborted).ConfigureAwait(false);
            return;
        }
        using (response)
            await CopyAnswerAsync(response, http, streamed: false).ConfigureAwait(false);
    }

    private static async Task CopyAnswerAsync(HttpResponseMessage response, HttpContext http, bool streamed)
    {
        http.Response.StatusCode = (int)response.StatusCode;
        if (response.Headers.TryGetValues("x-amzn-ErrorType", out var types))
            http.Response.Headers["x-amzn-ErrorType"] = types.ToArray();
        http.Response.ContentType = response.Content.Headers.ContentType?.ToString();
        if (response.Content.Headers.ContentLength is { } length)
            http.Response.ContentLength = length;
        var stream = await response.Content.ReadAsStreamAsync(http.RequestAborted).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(buffer, http.RequestAborted).ConfigureAwait(false)) > 0)
            {
                await http.Response.Body.WriteAsync(buffer.AsMemory(0, read), http.RequestAborted).ConfigureAwait(false);
                if (streamed)
                    await http.Response.Body.FlushAsync(http.RequestAborted).ConfigureAwait(false);
            }
        }
    }
}
