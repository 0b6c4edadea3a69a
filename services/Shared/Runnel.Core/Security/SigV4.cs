using System.Security.Cryptography;
using System.Text;

namespace Runnel.Core.Security;

/// <summary>
/// The pieces of AWS Signature Version 4 that a signer and a verifier share: canonical path, query and
/// header values, the string to sign and the derived signing key. Used to verify what clients send and,
/// in tests and tools, to sign the way the AWS SDKs do.
/// </summary>
public static class SigV4
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The basic ISO 8601 form of <c>X-Amz-Date</c>, always UTC.</summary>
    public const string DateFormat = "yyyyMMdd'T'HHmmss'Z'";

    public const string Terminator = "aws4_request";

    public const string UnsignedPayload = "UNSIGNED-PAYLOAD";

    /// <summary>SHA-256 of an empty body in lower-case hex.</summary>
    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    public static string HexSha256(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").</summary>
    public static byte[] SigningKey(string secret, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secret), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(Terminator));
    }

    public static string StringToSign(string amzDate, string scope, string canonicalRequest) =>
        $"{Algorithm}\n{amzDate}\n{scope}\n{HexSha256(Encoding.UTF8.GetBytes(canonicalRequest))}";

    public static string Signature(byte[] signingKey, string stringToSign) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>
    /// <c>method \n path \n query \n headers (name:value\n each) \n signed header names \n payload hash</c>;
    /// <paramref name="headers"/> are lower-case names with canonical values, in signed-header order.
    /// </summary>
    public static string CanonicalRequest(string method, string canonicalPath, string canonicalQuery,
        IReadOnlyList<KeyValuePair<string, string>> headers, string payloadHash)
    {
        var text = new StringBuilder(256);
        text.Append(method).Append('\n').Append(canonicalPath).Append('\n').Append(canonicalQuery).Append('\n');
        foreach (var (name, value) in headers)
            text.Append(name).Append(':').Append(value).Append('\n');
        text.Append('\n');
        for (var i = 0; i < headers.Count; i++)
        {
            if (i > 0)
                text.Append(';');
            text.Append(headers[i].Key);
        }
        text.Append('\n').Append(payloadHash);
        return text.ToString();
    }

    /// <summary>
    /// The path as the client sent it (already percent-encoded once), with dot segments removed and
    /// encoded again: every service but S3 signs each segment encoded twice.
    /// </summary>
    public static string CanonicalPath(string rawPath)
    {
        if (rawPath.Length == 0)
            return "/";
        var segments = new List<string>();
        foreach (var segment in rawPath.Split('/'))
        {
            if (segment == ".")
                continue;
            if (segment == "..")
            {
                if (segments.Count > 1)
                    segments.RemoveAt(segments.Count - 1);
                continue;
            }
            segments.Add(segment);
        }
        var path = string.Join('/', segments);
        if (!path.StartsWith('/'))
            path = "/" + path;
        return Encode(path, keepSlash: true);
    }

    /// <summary>
    /// Pairs sorted by encoded name, then encoded value, each percent-decoded from the raw query and encoded
    /// the RFC 3986 way; <paramref name="skip"/> leaves one parameter out (the signature of a presigned URL).
    /// </summary>
    public static string CanonicalQuery(string rawQuery, string? skip = null)
    {
        var query = rawQuery.StartsWith('?') ? rawQuery[1..] : rawQuery;
        if (query.Length == 0)
            return "";
        var pairs = new List<(string Name, string Value)>();
        foreach (var part in query.Split('&'))
        {
            if (part.Length == 0)
                continue;
            var equals = part.IndexOf('=');
            var name = Uri.UnescapeDataString(equals < 0 ? part : part[..equals]);
            if (skip is not null && name == skip)
                continue;
            var value = equals < 0 ? "" : Uri.UnescapeDataString(part[(equals + 1)..]);
            pairs.Add((Encode(name), Encode(value)));
        }
        pairs.Sort((a, b) =>
        {
            var byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Value, b.Value);
        });
        return string.Join('&', pairs.Select(p => p.Name + "=" + p.Value));
    }

    /// <summary>Values of one header joined by commas, each trimmed and with runs of spaces collapsed to one.</summary>
    public static string CanonicalHeaderValue(IEnumerable<string?> values)
    {
        var text = new StringBuilder();
        var first = true;
        foreach (var value in values)
        {
            if (!first)
                text.Append(',');
            first = false;
            var span = (value ?? "").AsSpan().Trim();
            var space = false;
            foreach (var c in span)
            {
                if (c is ' ' or '\t')
                {
                    space = true;
                    continue;
                }
                if (space)
                    text.Append(' ');
                space = false;
                text.Append(c);
            }
        }
        return text.ToString();
    }

    /// <summary>Percent-encodes every byte of the UTF-8 text except A-Z a-z 0-9 - _ . ~ (and '/' when asked).</summary>
    public static string Encode(string value, bool keepSlash = false)
    {
        var text = new StringBuilder(value.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '~' || (keepSlash && c == '/'))
                text.Append(c);
            else
                text.Append('%').Append(Convert.ToHexString([b]));
        }
        return text.ToString();
    }
}
