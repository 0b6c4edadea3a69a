using Microsoft.Extensions.Configuration;

namespace Runnel.ServiceDefaults.Health;

/// <summary>S3 settings shared by the readiness check and the services that write objects.</summary>
public sealed record S3Settings(Uri Endpoint, string AccessKey, string SecretKey, string? Bucket)
{
    /// <summary>Reads <c>S3:Endpoint</c>, <c>S3:AccessKey</c>, <c>S3:SecretKey</c>, <c>S3:Bucket</c>; null when no endpoint is set.</summary>
    public static S3Settings? From(IConfiguration configuration)
    {
        var endpoint = configuration["S3:Endpoint"];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return null;
        }
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new InvalidOperationException($"S3:Endpoint must be an absolute URL such as http://minio:9000, got '{endpoint}'.");
        }
        var bucket = configuration["S3:Bucket"];
        return new S3Settings(uri, configuration["S3:AccessKey"] ?? "", configuration["S3:SecretKey"] ?? "",
            string.IsNullOrWhiteSpace(bucket) ? null : bucket);
    }
}
