using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Runnel.ShardStore.Engine;

/// <summary>
/// Where deleted shards' files go before they are removed. Unlinking a 64 MiB segment took about 50 ms here (ext4
/// frees its blocks in the call), so deleting a shard of a few hundred segments in place held the single writer, and
/// with it every other shard's appends, for seconds. A delete renames the shard's folder into
/// <c>&lt;DataDirectory&gt;/trash/</c> (one metadata operation, after which the shard is gone and can be created again
/// under the same reference), and one thread per process empties the trash, a folder at a time. Whatever a crash
/// leaves there is emptied at the next open. The folder name is not a number, so <see cref="ShardLogStore.ListShards"/>
/// never takes it for a stream.
/// </summary>
internal static class ShardTrash
{
    public const string DirectoryName = "trash";

    private static readonly BlockingCollection<(string Directory, ILogger Logger)> Pending = [];

    /// <summary>Folders queued or being removed.</summary>
    private static int _busy;

    /// <summary>
    /// Below this much free space an open waits for the trash to be emptied: starting the commit journal writes about
    /// 1 MiB at once, and a store faulted by a full disk may have the space its deleted shards held still in the trash.
    /// </summary>
    private const long LowSpaceBytes = 64L * 1024 * 1024;

    // One thread, started on first use, for every store in the process: the unlinks block for seconds, and on pool
    // workers they starved request handling (four shards deleted at once took four of the few workers; another
    // stream's PutRecord waited ~1 s). One at a time also keeps them from competing with each other for the disk.
    private static readonly Lazy<Thread> Remover = new(() =>
    {
        var thread = new Thread(RemoveAll) { IsBackground = true, Name = "runnel-trash" };
        thread.Start();
        return thread;
    });

    /// <summary>Moves <paramref name="directory"/> out of the shard tree at once and deletes it in the background.</summary>
    public static void Discard(string root, string directory, ILogger logger)
    {
        if (!Directory.Exists(directory))
            return;
        var bin = NewBin(root);
        Directory.Move(directory, bin);
        Commit(Path.GetDirectoryName(directory)!, bin, logger);
    }

    /// <summary>Moves files out of their shard's folder at once and deletes them in the background.</summary>
    public static void DiscardFiles(string root, string directory, IEnumerable<string> files, ILogger logger)
    {
        var bin = NewBin(root);
        Directory.CreateDirectory(bin);
        foreach (var file in files)
        {
            if (File.Exists(file))
                File.Move(file, Path.Combine(bin, Path.GetFileName(file)));
        }
        Commit(directory, bin, logger);
    }

    /// <summary>
    /// Empties what an earlier run (or an earlier store in this process) left in the trash: in the background, except on
    /// a nearly full file system, where the open waits (up to a minute) until the space is back.
    /// </summary>
    public static void EmptyLeftovers(string root, ILogger logger)
    {
        var trash = Path.Combine(root, DirectoryName);
        if (!Directory.Exists(trash))
            return;
        foreach (var left in Directory.EnumerateDirectories(trash))
            Enqueue(left, logger);
        if (FreeBytes(root) < LowSpaceBytes && !SpinWait.SpinUntil(() => Volatile.Read(ref _busy) == 0, TimeSpan.FromMinutes(1)))
            logger.LogWarning("The trash in {Root} was not emptied within a minute; opening on a nearly full disk", root);
    }

    private static long FreeBytes(string root)
    {
        try
        {
            return new DriveInfo(root).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return long.MaxValue;
        }
    }

    private static string NewBin(string root)
    {
        var trash = Path.Combine(root, DirectoryName);
        Directory.CreateDirectory(trash);
        return Path.Combine(trash, Guid.NewGuid().ToString("N"));
    }

    /// <summary>The moves must survive a crash, or the deleted files would come back: both folders are fsynced.</summary>
    private static void Commit(string from, string bin, ILogger logger)
    {
        DurableFiles.FsyncDirectory(from);
        DurableFiles.FsyncDirectory(Path.GetDirectoryName(bin)!);
        Enqueue(bin, logger);
    }

    private static void Enqueue(string directory, ILogger logger)
    {
        Interlocked.Increment(ref _busy);
        Pending.Add((directory, logger));
        _ = Remover.Value;
    }

    private static void RemoveAll()
    {
        foreach (var (directory, logger) in Pending.GetConsumingEnumerable())
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
                // Queued twice: a store reopened in this process found a folder the remover was still emptying.
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Nothing refers to it any more; the next open tries again.
                logger.LogWarning(e, "Could not remove the deleted shard files in {Directory}", directory);
            }
            finally
            {
                Interlocked.Decrement(ref _busy);
            }
        }
    }
}
