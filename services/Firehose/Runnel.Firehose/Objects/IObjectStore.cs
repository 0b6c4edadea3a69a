namespace Runnel.Firehose.Objects;

/// <summary>
/// Where delivered objects go: an S3-compatible endpoint through the Minio client, or a folder per bucket on local
/// disk (Standalone's default). A put of an existing key replaces it whole; delivery relies on that to make a replayed
/// object land on the key it was first written to.
/// </summary>
public interface IObjectStore
{
    /// <summary>Stores the object; returns only once the store has accepted all of it.</summary>
    Task PutAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken);
}

