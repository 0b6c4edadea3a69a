using Runnel.Core.Errors;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.Ingest.Protocol;

/// <summary>
/// Forwards a consumer operation to the FanOut service (<c>POST /v1/fanout/kinesis</c>, same target header, wire
/// format and body)
/// and streams its answer back unchanged: a SubscribeToShard event stream flows through as it is produced.
/// </summary>
public sealed class FanOutForwarder(IHttpClientFactory clients, IConfiguration configuration, ServiceInvocation invocation)
{
    public const string HttpClientName = "Runnel.FanOut";

    private readonly string? _address = configuration["FanOut:Address"];

    public bool IsConfigured => !string.IsNullOrWhiteSpace(_address) || invocation.UsesDapr;

    /// <summary>
    /// Forwards a request of FanOut's own REST API (the event-source-mapping paths) as it came: method, path, query,
    /// body and content type; the answer's status, error type and body come back unchanged.
    /// </summary>
    public async Task ForwardRequestAsync(HttpContext http)
    {
        if (!IsConfigured)
        {
            http.Response.StatusCode = 500;
            http.Response.Headers["x-amzn-ErrorType"] = "ServiceException";
            await http.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["Type"] = "Service", ["message"] = "Event source mappings need the FanOut service, which is not configured (FanOut:Address)." }, http.RequestAborted);
            return;
        }
        var baseAddress = invocation.BaseAddressFor("fanout", string.IsNullOrWhiteSpace(_address) ? "http://fanout" : _address);
        var path = http.Request.Path.Value!.TrimStart('/') + http.Request.QueryString.Value;
        using var request = new HttpRequestMessage(new HttpMethod(http.Request.Method), new Uri(baseAddress, path));
        using var buffer = new MemoryStream();
        await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
        if (buffer.Length > 0)
        {
            request.Content = new ByteArrayContent(buffer.ToArray());
            if (http.Request.ContentType is { } type)
                request.Content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseContentRead, http.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            http.Response.StatusCode = 500;
            http.Response.Headers["x-amzn-ErrorType"] = "ServiceException";
            await http.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["Type"] = "Service", ["message"] = $"The FanOut service is unreachable: {e.Message}" }, http.RequestAborted);
            return;
        }
        using (response)
        {
            http.Response.StatusCode = (int)response.StatusCode;
            foreach (var name in new[] { "x-amzn-ErrorType", "x-amzn-RequestId" })
                if (response.Headers.TryGetValues(name, out var values))
                    http.Response.Headers[name] = values.ToArray();
            http.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            var bytes = await response.Content.ReadAsByteArrayAsync(http.RequestAborted);
            http.Response.ContentLength = bytes.Length;
            await http.Response.Body.WriteAsync(bytes, http.RequestAborted);
        }
    }

    /// <param name="contentType">The request's wire format (JSON 1.1 or CBOR 1.1); FanOut answers in the same one.</param>
    public async Task ForwardAsync(HttpContext http, ReadOnlyMemory<byte> body, string contentType = "application/x-amz-json-1.1")
    {
        var baseAddress = invocation.BaseAddressFor("fanout", string.IsNullOrWhiteSpace(_address) ? "http://fanout" : _address);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, "v1/fanout/kinesis"))
        {
            Content = new ReadOnlyMemoryContent(body),
        };
        request.Headers.TryAddWithoutValidation("X-Amz-Target", http.Request.Headers["X-Amz-Target"].ToString());
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, http.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            throw new KinesisException(ErrorTypes.InternalFailure, $"The FanOut service is unreachable: {e.Message}", 500);
        }
        using (response)
        {
            http.Response.StatusCode = (int)response.StatusCode;
            foreach (var name in new[] { "x-amzn-ErrorType" })
                if (response.Headers.TryGetValues(name, out var values))
                    http.Response.Headers[name] = values.ToArray();
            http.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            var stream = await response.Content.ReadAsStreamAsync(http.RequestAborted);
            await using (stream)
            {
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(buffer, http.RequestAborted)) > 0)
                {
                    await http.Response.Body.WriteAsync(buffer.AsMemory(0, read), http.RequestAborted);
                    await http.Response.Body.FlushAsync(http.RequestAborted);
                }
            }
        }
    }
}
