namespace Runnel.ServiceDefaults.Objects;

/// <summary>
/// A folder per bucket under <c>root</c>, the key's slashes as subfolders, so delivered objects can be opened with
/// <c>ls</c> and <c>cat</c>. Buckets are created on first use. An object is written to a temporary file, flushed to
/// disk and renamed over its key, so a reader sees either no object or all of it, and a crash leaves at most a stray
/// temporary file (named <c>.tmp-*</c>, never a key Firehose produces).
/// </summary>
public sealed class LocalFolderObjectStore(string root) : IObjectStore
{
    public string Root { get; } = Path.GetFullPath(root);

    public async Task PutAsync(string bucket, string key, ReadOnlyMemory<byte> content, string contentType, CancellationToken cancellationToken)
    {
        var path = PathOf(bucket, key);
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".tmp-{Guid.NewGuid():N}");
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            {
                await file.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public async Task<byte[]?> GetAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        var path = PathOf(bucket, key);
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The file of an object; refuses keys that would leave the bucket's folder.</summary>
    public string PathOf(string bucket, string key)
    {
        if (bucket.Length == 0 || bucket.Contains('/') || bucket.Contains('\\') || bucket is "." or "..")
            throw new ArgumentException($"'{bucket}' is not a bucket name.", nameof(bucket));
        var bucketFolder = Path.Combine(Root, bucket);
        var path = Path.GetFullPath(Path.Combine(bucketFolder, key));
        if (!path.StartsWith(bucketFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal) || key.EndsWith('/'))
            throw new ArgumentException($"'{key}' is not an object key this store can hold.", nameof(key));
        return path;
    }
}
