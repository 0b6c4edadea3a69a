using System.ComponentModel.DataAnnotations;

namespace Runnel.ServiceDefaults.Dapr;

/// <summary>
/// Bound from the <c>Dapr</c> section. When enabled, calls between services go through the local
/// sidecar (mTLS, retries and service discovery by app id); when disabled they go straight to the peer.
/// </summary>
public sealed class DaprOptions : IValidatableObject
{
    public const string Section = "Dapr";

    public bool Enabled { get; set; }

    /// <summary>The sidecar's HTTP API; 3500 is daprd's default HTTP port.</summary>
    [Required]
    public string HttpEndpoint { get; set; } = "http://127.0.0.1:3500";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Uri.TryCreate(HttpEndpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            yield return new ValidationResult($"Dapr:HttpEndpoint must be an absolute http(s) URL, got '{HttpEndpoint}'.", [nameof(HttpEndpoint)]);
        }
    }
}
