using System.ComponentModel.DataAnnotations;

namespace Runnel.Ingest.Auth;

public enum AuthenticationMode
{
    /// <summary>Every request must carry a valid AWS Signature V4 from a stored access key.</summary>
    SigV4,

    /// <summary>Nobody is asked for credentials and every call is allowed (loopback-only Standalone).</summary>
    None,
}

/// <summary>Authentication and access keys (section <c>Security</c>).</summary>
public sealed class SecurityOptions
{
    public const string Section = "Security";

    public AuthenticationMode Authentication { get; set; } = AuthenticationMode.SigV4;

    /// <summary>Base64 of 32 random bytes: the AES-256-GCM key that seals access key secrets in the metadata store.</summary>
    public string? MasterKey { get; set; }

    /// <summary>
    /// KMS key ids, ARNs or aliases StartStreamEncryption accepts besides <c>alias/aws/kinesis</c> (and its ARN); each names
    /// the stream's key for clients, while the data keys themselves are generated here and wrapped by the master key.
    /// </summary>
    public List<string> KmsKeyIds { get; set; } = [];

    /// <summary>An administrator key created at start when it does not exist yet (both or neither).</summary>
    public string? BootstrapAccessKeyId { get; set; }

    public string? BootstrapSecretAccessKey { get; set; }

    /// <summary>How far a request's signing time may be from this server's clock (AWS allows 5 minutes).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a replica trusts a cached key and its policy; a change made on another replica is seen within this.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan KeyCacheLifetime { get; set; } = TimeSpan.FromSeconds(10);
}
