using System.Globalization;
using System.Net.Http.Headers;
using Runnel.Core.Security;

namespace Runnel.EndToEnd.Tests;

/// <summary>The administrator key every deployed-shape Runnel in these tests is started with (Security:Bootstrap*).</summary>
public static class TestCredentials
{
    public const string AccessKeyId = "AKIDRUNNELTEST";
    public const string SecretAccessKey = "runnel-test-secret";

    /// <summary>The Ingest settings that turn SigV4 on with the test administrator key.</summary>
    public static IReadOnlyList<string> IngestArguments(string masterKey) =>
    [
        "--Security:Authentication=SigV4",
        $"--Security:MasterKey={masterKey}",
        $"--Security:BootstrapAccessKeyId={AccessKeyId}",
        $"--Security:BootstrapSecretAccessKey={SecretAccessKey}",
    ];

    /// <summary>An HttpClient that signs every request with SigV4 (a server without authentication ignores it).</summary>
    public static HttpClient SignedClient(Uri baseAddress, TimeSpan? timeout = null, string accessKeyId = AccessKeyId, string secret = SecretAccessKey) =>
        new(new SigV4SigningHandler(accessKeyId, secret) { InnerHandler = new SocketsHttpHandler() })
        {
            BaseAddress = baseAddress,
            Timeout = timeout ?? TimeSpan.FromSeconds(100),
        };
}

/// <summary>
/// Signs requests the way the AWS SDKs do (header auth: host, x-amz-date, content-type, x-amz-target and the
/// body's hash), for the harness's own HTTP calls. Real AWS clients prove the verifier's compatibility; this only
/// lets the harness talk to a server that requires signatures.
/// </summary>
public sealed class SigV4SigningHandler(string accessKeyId, string secret, string region = "us-east-1", string service = "kinesis") : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        var uri = request.RequestUri!;
        var amzDate = DateTime.UtcNow.ToString(SigV4.DateFormat, CultureInfo.InvariantCulture);
        request.Headers.Remove("X-Amz-Date");
        request.Headers.TryAddWithoutValidation("X-Amz-Date", amzDate);
        var headers = new List<KeyValuePair<string, string>>
        {
            new("host", uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}"),
            new("x-amz-date", amzDate),
        };
        if (request.Content?.Headers.ContentType is { } contentType)
            headers.Insert(0, new("content-type", SigV4.CanonicalHeaderValue([contentType.ToString()])));
        if (request.Headers.TryGetValues("X-Amz-Target", out var target))
            headers.Add(new("x-amz-target", SigV4.CanonicalHeaderValue(target)));
        var canonical = SigV4.CanonicalRequest(request.Method.Method, SigV4.CanonicalPath(uri.AbsolutePath), SigV4.CanonicalQuery(uri.Query),
            headers, SigV4.HexSha256(body));
        var scope = $"{amzDate[..8]}/{region}/{service}/{SigV4.Terminator}";
        var signature = SigV4.Signature(SigV4.SigningKey(secret, amzDate[..8], region, service), SigV4.StringToSign(amzDate, scope, canonical));
        request.Headers.Authorization = new AuthenticationHeaderValue(SigV4.Algorithm,
            $"Credential={accessKeyId}/{scope}, SignedHeaders={string.Join(';', headers.Select(h => h.Key))}, Signature={signature}");
        return await base.SendAsync(request, cancellationToken);
    }
}
