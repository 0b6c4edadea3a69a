using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Security;

namespace Runnel.Ingest.Auth;

/// <summary>
/// Verifies AWS Signature Version 4, in the Authorization header or in the query string (a presigned URL), against
/// the stored access keys, and answers as Kinesis does: MissingAuthenticationTokenException without any signature,
/// IncompleteSignatureException when parts are missing, UnrecognizedClientException for an unknown key or any session
/// token,
/// InvalidSignatureException for a wrong signature, a date outside the allowed skew or an expired URL.
/// The principal returned is the access key id. Any region and service in the credential scope are accepted
/// (clients name their own region); the signature covers them.
/// </summary>
public sealed class SigV4Authenticator(AccessKeyStore keys, IOptions<SecurityOptions> options, TimeProvider time) : IRequestAuthenticator
{
    public const string InvalidSignature = "InvalidSignatureException";
    public const string IncompleteSignature = "IncompleteSignatureException";
    public const string UnrecognizedClient = "UnrecognizedClientException";

    /// <summary>The session token of temporary credentials, a header or (presigned) a query parameter.</summary>
    private const string SecurityTokenName = "X-Amz-Security-Token";

    /// <summary>The longest validity a presigned URL may ask for (seven days, as AWS).</summary>
    private const int MaxExpiresSeconds = 604_800;

    private sealed record Signed(string AccessKeyId, string Date, string Region, string Service, string[] SignedHeaders, string Signature, string AmzDate, int? ExpiresSeconds);

    public async ValueTask<string> AuthenticateAsync(HttpContext context, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var authorization = request.Headers.Authorization.ToString();
        var presigned = request.Query.ContainsKey("X-Amz-Algorithm");
        if (authorization.Length > 0 && presigned)
            throw new KinesisException(InvalidSignature, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.");
        if (authorization.Length == 0 && !presigned)
            throw new KinesisException(ErrorTypes.MissingAuthenticationToken, "Missing Authentication Token");

        var signed = presigned ? FromQuery(request) : FromHeader(request, authorization);
        // Runnel issues no temporary credentials, so no session token names a session it knows: ignoring one would
        // serve a caller who believes it speaks as a role with the rights of the long-term key instead.
        if (request.Headers.ContainsKey(SecurityTokenName) || (presigned && request.Query.ContainsKey(SecurityTokenName)))
            throw new KinesisException(UnrecognizedClient, "The security token included in the request is invalid.");
        var key = await keys.FindAsync(signed.AccessKeyId, cancellationToken)
            ?? throw new KinesisException(UnrecognizedClient, "The security token included in the request is invalid.");

        var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (request.PathBase + request.Path + request.QueryString).ToString();
        var question = rawTarget.IndexOf('?');
        var path = question < 0 ? rawTarget : rawTarget[..question];
        var query = question < 0 ? "" : rawTarget[(question + 1)..];
        var canonicalPath = SigV4.CanonicalPath(path);
        var canonicalQuery = SigV4.CanonicalQuery(query, presigned ? "X-Amz-Signature" : null);
        var headers = CanonicalHeaders(request, signed.SignedHeaders);
        var bodyHash = SigV4.HexSha256(body.Span);
        var signingKey = key.SigningKey(signed.Date, signed.Region, signed.Service);
        var scope = $"{signed.Date}/{signed.Region}/{signed.Service}/{SigV4.Terminator}";

        if (!Matches(PayloadHashes(request, bodyHash, presigned)))
            throw new KinesisException(InvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
        CheckTime(signed);
        return key.Id;

        bool Matches(IEnumerable<string> payloadHashes)
        {
            var expected = Convert.FromHexString(signed.Signature.Length == 64 && signed.Signature.All(char.IsAsciiHexDigit) ? signed.Signature : new string('0', 64));
            foreach (var payloadHash in payloadHashes)
            {
                var canonical = SigV4.CanonicalRequest(request.Method, canonicalPath, canonicalQuery, headers, payloadHash);
                var computed = Convert.FromHexString(SigV4.Signature(signingKey, SigV4.StringToSign(signed.AmzDate, scope, canonical)));
                if (CryptographicOperations.FixedTimeEquals(computed, expected))
                    return true;
            }
            return false;
        }
    }

    /// <summary>
    /// What the client may have signed as the payload: the body's hash, or what <c>X-Amz-Content-Sha256</c> declares when
    /// that is the body's hash too. A presigned URL may also sign <c>UNSIGNED-PAYLOAD</c>, as the SDKs' presigners do.
    /// A declared hash that differs from the body is refused rather than trusted.
    /// </summary>
    private static IEnumerable<string> PayloadHashes(HttpRequest request, string bodyHash, bool presigned)
    {
        var declared = request.Headers["X-Amz-Content-Sha256"].ToString();
        if (declared.Length > 0 && declared != SigV4.UnsignedPayload && !string.Equals(declared, bodyHash, StringComparison.OrdinalIgnoreCase))
            throw new KinesisException(InvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.");
        if (declared.Length > 0 && declared != SigV4.UnsignedPayload)
            return [declared];
        return presigned || declared == SigV4.UnsignedPayload ? [bodyHash, SigV4.UnsignedPayload] : [bodyHash];
    }

    private void CheckTime(Signed signed)
    {
        var signedAt = DateTimeOffset.ParseExact(signed.AmzDate, SigV4.DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        var now = time.GetUtcNow();
        if (signed.ExpiresSeconds is { } expires)
        {
            var threshold = now - TimeSpan.FromSeconds(expires);
            if (signedAt < threshold)
                throw new KinesisException(InvalidSignature, $"Signature expired: {signed.AmzDate} is now earlier than {Format(threshold)} ({Format(now)} - {expires} sec.)");
        }
        var skew = options.Value.MaxClockSkew;
        var minutes = $"{skew.TotalMinutes:0.##} min.";
        if (signed.ExpiresSeconds is null && signedAt < now - skew)
            throw new KinesisException(InvalidSignature, $"Signature expired: {signed.AmzDate} is now earlier than {Format(now - skew)} ({Format(now)} - {minutes})");
        if (signedAt > now + skew)
            throw new KinesisException(InvalidSignature, $"Signature not yet current: {signed.AmzDate} is still later than {Format(now + skew)} ({Format(now)} + {minutes})");
    }

    private static string Format(DateTimeOffset at) => at.UtcDateTime.ToString(SigV4.DateFormat, CultureInfo.InvariantCulture);

    private static Signed FromHeader(HttpRequest request, string authorization)
    {
        var algorithm = authorization.Split(' ', 2)[0];
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in authorization[algorithm.Length..].Split([',', ' '], StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=');
            if (equals > 0)
                parameters[part[..equals]] = part[(equals + 1)..];
        }
        var missing = new StringBuilder();
        foreach (var name in (string[])["Credential", "Signature", "SignedHeaders"])
        {
            if (!parameters.ContainsKey(name))
                missing.Append($"Authorization header requires '{name}' parameter. ");
        }
        var amzDate = request.Headers["X-Amz-Date"].ToString();
        var date = request.Headers.Date.ToString();
        if (amzDate.Length == 0 && date.Length == 0)
            missing.Append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
        if (missing.Length > 0)
            throw new KinesisException(IncompleteSignature, missing.Append("Authorization=").Append(authorization).ToString());
        if (algorithm != SigV4.Algorithm)
            throw new KinesisException(IncompleteSignature, $"Unsupported AWS 'algorithm': '{algorithm}'.");
        if (amzDate.Length == 0)
        {
            if (!DateTimeOffset.TryParseExact(date, "r", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var parsed))
                throw new KinesisException(IncompleteSignature, $"Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601");
            amzDate = Format(parsed);
        }
        return Parse(parameters["Credential"], parameters["SignedHeaders"], parameters["Signature"], amzDate, null);
    }

    private static Signed FromQuery(HttpRequest request)
    {
        var missing = new StringBuilder();
        foreach (var name in (string[])["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"])
        {
            if (string.IsNullOrEmpty(request.Query[name].ToString()))
                missing.Append($"AWS query-string parameters must include '{name}'. ");
        }
        if (missing.Length > 0)
            throw new KinesisException(IncompleteSignature, missing.Append("Re-examine the query-string parameters.").ToString());
        var algorithm = request.Query["X-Amz-Algorithm"].ToString();
        if (algorithm != SigV4.Algorithm)
            throw new KinesisException(IncompleteSignature, $"Unsupported AWS 'algorithm': '{algorithm}'.");
        var expiresText = request.Query["X-Amz-Expires"].ToString();
        var expires = MaxExpiresSeconds;
        if (expiresText.Length > 0 && (!int.TryParse(expiresText, NumberStyles.None, CultureInfo.InvariantCulture, out expires) || expires > MaxExpiresSeconds))
            throw new KinesisException(IncompleteSignature, $"X-Amz-Expires must be a number of seconds between 0 and {MaxExpiresSeconds}, not '{expiresText}'.");
        return Parse(request.Query["X-Amz-Credential"].ToString(), request.Query["X-Amz-SignedHeaders"].ToString(),
            request.Query["X-Amz-Signature"].ToString(), request.Query["X-Amz-Date"].ToString(), expires);
    }

    private static Signed Parse(string credential, string signedHeaders, string signature, string amzDate, int? expires)
    {
        var scope = credential.Split('/');
        if (scope.Length != 5)
            throw new KinesisException(IncompleteSignature, $"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'");
        if (scope[4] != SigV4.Terminator)
            throw new KinesisException(IncompleteSignature, $"Credential should be scoped with a valid terminator: '{SigV4.Terminator}', not '{scope[4]}'.");
        if (!DateTimeOffset.TryParseExact(amzDate, SigV4.DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _))
            throw new KinesisException(IncompleteSignature, $"Date must be in ISO-8601 'basic format'. Got '{amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601");
        if (scope[1] != amzDate[..8])
            throw new KinesisException(InvalidSignature, $"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope[1]}' != '{amzDate[..8]}', from '{amzDate}'.");
        var names = signedHeaders.Split(';');
        if (!names.Contains("host") && !names.Contains(":authority"))
            throw new KinesisException(IncompleteSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
        return new Signed(scope[0], scope[1], scope[2], scope[3], names, signature, amzDate, expires);
    }

    private static List<KeyValuePair<string, string>> CanonicalHeaders(HttpRequest request, string[] names)
    {
        var headers = new List<KeyValuePair<string, string>>(names.Length);
        foreach (var name in names)
        {
            // HTTP/2 carries the host as :authority (the JavaScript SDK signs it under that name); Kestrel presents it as Host.
            var values = name is "host" or ":authority" ? [request.Host.Value] : request.Headers[name].ToArray();
            headers.Add(new(name, SigV4.CanonicalHeaderValue(values)));
        }
        return headers;
    }
}
