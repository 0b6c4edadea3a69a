using Microsoft.Extensions.Diagnostics.HealthChecks;
using Minio;
using Minio.DataModel.Args;

namespace Runnel.ServiceDefaults.Health;

/// <summary>Ready when the configured bucket exists, or, with no bucket configured, when ListBuckets succeeds.</summary>
public sealed class S3HealthCheck : IHealthCheck, IDisposable
{
    private readonly S3Settings _settings;
    private readonly IMinioClient _client;

    public S3HealthCheck(S3Settings settings)
    {
        _settings = settings;
        _client = new MinioClient()
            .WithEndpoint(settings.Endpoint.Host, settings.Endpoint.Port)
            .WithCredentials(settings.AccessKey, settings.SecretKey)
            .WithSSL(settings.Endpoint.Scheme == Uri.UriSchemeHttps)
            .WithTimeout((int)DependencyCheckExtensions.CheckTimeout.TotalMilliseconds)
            .Build();
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            if (_settings.Bucket is { } bucket)
            {
                var exists = await _client.BucketExistsAsync(new BucketExistsArgs().WithBucket(bucket), cancellationToken).ConfigureAwait(false);
                return exists
                    ? HealthCheckResult.Healthy($"bucket {bucket} exists")
                    : new HealthCheckResult(context.Registration.FailureStatus, $"bucket {bucket} does not exist");
            }
            var buckets = await _client.ListBucketsAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"{buckets.Buckets?.Count ?? 0} buckets");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "s3 unreachable", ex);
        }
    }

    public void Dispose() => (_client as IDisposable)?.Dispose();
}
