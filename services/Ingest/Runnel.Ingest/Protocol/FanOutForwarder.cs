using Runnel.Core.Errors;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.Ingest.Protocol;

/// <summary>
/// Forwards a consumer operation to the FanOut service (<c>POST /v1/fanout/kinesis</c>, same target header and body)
/// and streams its answer back unchanged: a SubscribeToShard event stream flows through as it is produced.
/// </summary>
public sealed class FanOutForwarder(IHttpClientFactory clients, IConfiguration configuration, ServiceInvocation invocation)
{
    public const string HttpClientName = "Runnel.FanOut";

    private readonly string? _address = configuration["FanOut:Address"];

    public bool IsConfigured => !string.IsNullOrWhiteSpace(_address) || invocation.UsesDapr;

    public async Task ForwardAsync(HttpContext http, ReadOnlyMemory<byte> body)
    {
        var baseAddress = invocation.BaseAddressFor("fanout", string.IsNullOrWhiteSpace(_address) ? "http://fanout" : _address);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, "v1/fanout/kinesis"))
        {
            Content = new ReadOnlyMemoryContent(body),
        };
        request.Headers.TryAddWithoutValidation("X-Amz-Target", http.Request.Headers["X-Amz-Target"].ToString());
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-amz-json-1.1");
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
