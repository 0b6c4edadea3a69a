namespace Runnel.ServiceDefaults.Objects;

/// <summary>
/// Objects that services write (delivery streams) and read (reference data of SQL applications): an S3-compatible
/// endpoint through the Minio client, or a folder per bucket on local disk (Standalone's default). A put of an existing key replaces it whole; delivery relies on that to make a replayed
/// object land on the key it was first written to.
/// </summary>
public interface IObjectStore
{
    /// <summary>Stores the object; returns only once the store has accepted all of it.</summary>
    Task PutAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken);

    /// <summary>The whole object, or null when the bucket or the key does not exist.</summary>
    Task<byte[]?> GetAsync(string bucket, string key, CancellationToken cancellationToken);
}

public static class ObjectStores
{
    /// <summary>The S3 endpoint when one is configured (<c>S3:Endpoint</c>), else a folder per bucket under <paramref name="localFolder"/>.</summary>
    public static IObjectStore Create(Health.S3Settings? s3, string localFolder, string region) =>
        s3 is null ? new LocalFolderObjectStore(localFolder) : new MinioObjectStore(s3, region);
}

