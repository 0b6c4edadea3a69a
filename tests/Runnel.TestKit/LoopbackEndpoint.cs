using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Runnel.TestKit;

/// <summary>One request an endpoint saw: its headers and its JSON body, decoded when GZIP.</summary>
public sealed record SeenRequest(Dictionary<string, string> Headers, JsonElement Body);

/// <summary>
/// A third-party HTTP endpoint the test stands up on loopback (an HTTP endpoint destination, a transform function): it
/// answers the n-th request (from 1) with <c>answer(n, body)</c> and keeps every request it saw.
/// </summary>
public sealed class LoopbackEndpoint : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<int, JsonElement, (int Status, string Body)> _answer;
    private readonly Task _loop;

    public LoopbackEndpoint(string path, Func<int, JsonElement, (int Status, string Body)> answer)
    {
        _answer = answer;
        Port = FreePorts.Get(1)[0];
        Url = $"http://127.0.0.1:{Port}{path}";
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }
    public string Url { get; }
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            Stream body = context.Request.InputStream;
            if (context.Request.Headers["Content-Encoding"] == "gzip")
                body = new GZipStream(body, CompressionMode.Decompress);
            using var reader = new StreamReader(body);
            var json = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
            var headers = context.Request.Headers.AllKeys.OfType<string>().ToDictionary(k => k, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            Requests.Enqueue(new SeenRequest(headers, json));
            var (status, answer) = _answer(Requests.Count, json);
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(Encoding.UTF8.GetBytes(answer));
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(10));
    }
}
