using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Runnel.LoadBench;

/// <summary>An error answer of the Kinesis protocol.</summary>
public sealed class KinesisErrorException(int status, string type, string message) : Exception($"{status} {type}: {message}")
{
    public int Status { get; } = status;

    public string Type { get; } = type;
}

/// <summary>
/// One client of the Kinesis JSON 1.1 protocol with a connection of its own (HTTP/1.1 keep-alive, or one HTTP/2
/// connection), used by one task at a time. Bodies are sent as given and answers are read into a buffer that is
/// reused by the next call, so a steady load allocates almost nothing per request. Cleartext HTTP/1.1 goes through
/// <see cref="Http1Wire"/> (about a third less client CPU per small call than HttpClient); HTTP/2 and https, and
/// <c>--http 1.1-httpclient</c>, through HttpClient.
/// </summary>
public sealed class KinesisConnection : IDisposable
{
    private static readonly MediaTypeHeaderValue JsonType = MediaTypeHeaderValue.Parse("application/x-amz-json-1.1");

    private readonly HttpClient _http;
    private readonly Version _version;
    private readonly string _date = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
    private readonly string _authorization;
    private byte[] _buffer = new byte[64 * 1024];
    private readonly Http1Wire? _wire;

    public const string KinesisPrefix = "Kinesis_20131202.";
    public const string FirehosePrefix = "Firehose_20150804.";

    private readonly string _targetPrefix;

    /// <param name="blocking">Cleartext HTTP/1.1 only: blocking socket calls, for a caller on a thread of its own.</param>
    /// <param name="targetPrefix">The service of the operations: Kinesis's, or Firehose's for delivery streams.</param>
    public KinesisConnection(Uri endpoint, HttpMode mode, TimeSpan timeout, bool blocking = false, string targetPrefix = KinesisPrefix)
    {
        _targetPrefix = targetPrefix;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            EnableMultipleHttp2Connections = false,
        };
        _http = new HttpClient(handler) { BaseAddress = endpoint, Timeout = timeout };
        _version = mode == HttpMode.Http2 ? HttpVersion.Version20 : HttpVersion.Version11;
        // Servers that check only the shape of a SigV4 header (the peers) accept this; Runnel Standalone is open.
        var day = _date[..8];
        _authorization = $"AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK00000000/{day}/us-east-1/kinesis/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + new string('0', 64);
        if (CanBlock(endpoint, mode))
            _wire = new Http1Wire(endpoint, _date, _authorization, timeout, blocking, targetPrefix);
    }

    /// <summary>True when calls go through <see cref="Http1Wire"/> (cleartext HTTP/1.1), which can also block.</summary>
    public static bool CanBlock(Uri endpoint, HttpMode mode) => mode == HttpMode.Http11 && Http1Wire.Supports(endpoint);

    /// <summary>The body of the last answer; valid until the next call.</summary>
    public ReadOnlyMemory<byte> Body { get; private set; }

    /// <summary>Sends one operation and returns the HTTP status; the answer is in <see cref="Body"/>.</summary>
    public async Task<int> SendAsync(string operation, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        if (_wire is not null)
        {
            var (status, answer) = await _wire.SendAsync(operation, body, cancellationToken).ConfigureAwait(false);
            Body = answer;
            return status;
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Version = _version,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ReadOnlyMemoryContent(body),
        };
        request.Content.Headers.ContentType = JsonType;
        request.Headers.TryAddWithoutValidation("X-Amz-Target", _targetPrefix + operation);
        request.Headers.TryAddWithoutValidation("X-Amz-Date", _date);
        request.Headers.TryAddWithoutValidation("Authorization", _authorization);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var length = 0;
            if (response.Content.Headers.ContentLength is { } declared && declared > _buffer.Length)
                _buffer = new byte[declared];
            while (true)
            {
                if (length == _buffer.Length)
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                var read = await stream.ReadAsync(_buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                    break;
                length += read;
            }
            Body = _buffer.AsMemory(0, length);
        }
        return (int)response.StatusCode;
    }

    /// <summary>Sends an operation and throws <see cref="KinesisErrorException"/> unless the answer is 200.</summary>
    public async Task<ReadOnlyMemory<byte>> CallAsync(string operation, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var status = await SendAsync(operation, body, cancellationToken).ConfigureAwait(false);
        if (status != 200)
            throw Error(status, Body.Span);
        return Body;
    }

    public Task<ReadOnlyMemory<byte>> CallAsync(string operation, string json, CancellationToken cancellationToken) =>
        CallAsync(operation, Encoding.UTF8.GetBytes(json), cancellationToken);

    /// <summary>The error type of an answer: <c>__type</c> without the namespace some servers put before '#'.</summary>
    public static KinesisErrorException Error(int status, ReadOnlySpan<byte> body)
    {
        string type = "", message = Encoding.UTF8.GetString(body[..Math.Min(body.Length, 512)]);
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray());
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (doc.RootElement.TryGetProperty("__type", out var t) && t.ValueKind == JsonValueKind.String)
                {
                    type = t.GetString()!;
                    var hash = type.LastIndexOf('#');
                    if (hash >= 0)
                        type = type[(hash + 1)..];
                }
                if ((doc.RootElement.TryGetProperty("message", out var m) || doc.RootElement.TryGetProperty("Message", out m)) && m.ValueKind == JsonValueKind.String)
                    message = m.GetString()!;
            }
        }
        catch (JsonException)
        {
            // Not a protocol answer: keep the raw text.
        }
        return new KinesisErrorException(status, type.Length > 0 ? type : $"HTTP{status}", message);
    }

    public void Dispose()
    {
        _wire?.Dispose();
        _http.Dispose();
    }
}
