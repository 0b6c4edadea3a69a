
namespace Runnel.Ingest.Auth;

/// <summary>
/// The one place a request's credentials are checked (AWS Signature V4 when keys are enforced).
/// Throw a <see cref="Core.Errors.KinesisException"/> to refuse; return the principal to accept.
/// The body is passed because a SigV4 signature covers its hash.
/// </summary>
public interface IRequestAuthenticator
{
    ValueTask<string> AuthenticateAsync(HttpContext context, ReadOnlyMemory<byte> body, CancellationToken cancellationToken);
}

/// <summary>Accepts every request, signed or not (Standalone and trusted networks).</summary>
public sealed class AllowAllAuthenticator : IRequestAuthenticator
{
    public ValueTask<string> AuthenticateAsync(HttpContext context, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AccessKeyOf(context.Request.Headers.Authorization.ToString()) ?? "anonymous");

    /// <summary>The access key id of a SigV4 Authorization header, if any.</summary>
    public static string? AccessKeyOf(string authorization)
    {
        const string marker = "Credential=";
        var at = authorization.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
            return null;
        var start = at + marker.Length;
        var end = authorization.IndexOf('/', start);
        return end > start ? authorization[start..end] : null;
    }
}
