using Minio;
using Minio.DataModel.Args;
using Runnel.ServiceDefaults.Health;

namespace Runnel.ServiceDefaults.Objects;

/// <summary>Any S3-compatible endpoint (MinIO, AWS S3) through the Minio client, path-style.</summary>
public sealed class MinioObjectStore : IObjectStore, IDisposable
{
    private readonly IMinioClient _client;

    public MinioObjectStore(S3Settings settings, string region)
    {
        _client = new MinioClient()
            .WithEndpoint(settings.Endpoint.Host, settings.Endpoint.Port)
            .WithCredentials(settings.AccessKey, settings.SecretKey)
            .WithSSL(settings.Endpoint.Scheme == Uri.UriSchemeHttps)
            .WithRegion(region)
            .Build();
    }

    public async Task PutAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        await _client.PutObjectAsync(new PutObjectArgs()
            .WithBucket(bucket)
            .WithObject(key)
            .WithStreamData(stream)
            .WithObjectSize(content.Length)
            .WithContentType(contentType), cancellationToken).ConfigureAwait(false);
    }

    public async Task<byte[]?> GetAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        try
        {
            await _client.GetObjectAsync(new GetObjectArgs()
                .WithBucket(bucket)
                .WithObject(key)
                .WithCallbackStream(s => s.CopyTo(buffer)), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is Minio.Exceptions.ObjectNotFoundException or Minio.Exceptions.BucketNotFoundException)
        {
            return null;
        }
        return buffer.ToArray();
    }

    public void Dispose() => (_client as IDisposable)?.Dispose();
}
