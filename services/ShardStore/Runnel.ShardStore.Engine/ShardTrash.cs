using Microsoft.Extensions.Logging;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// Where deleted shards' files go before they are removed. Unlinking a 64 MiB segment took about 50 ms here (ext4
/// frees its blocks in the call), so deleting a shard of a few hundred segments in place held the single writer, and
/// with it every other shard's appends, for seconds. A delete renames the shard's folder into
/// <c>&lt;DataDirectory&gt;/trash/</c> (one metadata operation, after which the shard is gone and can be created again
/// under the same reference) and empties it on a pool thread. Whatever a crash leaves there is emptied at the next
/// open. The folder name is not a number, so <see cref="ShardLogStore.ListShards"/> never takes it for a stream.
/// </summary>
internal static class ShardTrash
{
    public const string DirectoryName = "trash";

    /// <summary>Moves <paramref name="directory"/> out of the shard tree at once and deletes it in the background.</summary>
    public static void Discard(string root, string directory, ILogger logger)
    {
        if (!Directory.Exists(directory))
            return;
        var trash = Path.Combine(root, DirectoryName);
        Directory.CreateDirectory(trash);
        var target = Path.Combine(trash, Guid.NewGuid().ToString("N"));
        Directory.Move(directory, target);
        // The rename must survive a crash, or the shard would come back from the dead.
        DurableFiles.FsyncDirectory(Path.GetDirectoryName(directory)!);
        DurableFiles.FsyncDirectory(trash);
        RemoveInBackground(target, logger);
    }

    /// <summary>Moves expired segment files out of their shard's folder at once and deletes them in the background.</summary>
    public static void DiscardFiles(string root, string directory, IReadOnlyList<string> files, ILogger logger)
    {
        var target = Path.Combine(root, DirectoryName, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        foreach (var file in files)
        {
            if (File.Exists(file))
                File.Move(file, Path.Combine(target, Path.GetFileName(file)));
        }
        DurableFiles.FsyncDirectory(directory);
        DurableFiles.FsyncDirectory(target);
        RemoveInBackground(target, logger);
    }

    /// <summary>Empties what an earlier run left in the trash, in the background.</summary>
    public static void EmptyLeftovers(string root, ILogger logger)
    {
        var trash = Path.Combine(root, DirectoryName);
        if (!Directory.Exists(trash))
            return;
        foreach (var left in Directory.EnumerateDirectories(trash))
            RemoveInBackground(left, logger);
    }

    /// <summary>
    /// On a thread of its own: the unlinks block for seconds, and on a pool worker they starved request handling
    /// (four shards deleted at once took four of the few workers; another stream's PutRecord waited ~1 s).
    /// </summary>
    private static void RemoveInBackground(string directory, ILogger logger) =>
        new Thread(() => Remove(directory, logger)) { IsBackground = true, Name = "runnel-trash" }.Start();

    private static void Remove(string directory, ILogger logger)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing refers to it any more; the next open tries again.
            logger.LogWarning(e, "Could not remove the deleted shard files in {Directory}", directory);
        }
    }
}
