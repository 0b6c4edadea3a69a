using System.Runtime.InteropServices;

namespace Runnel.ShardStore.Engine;

/// <summary>File-system steps that .NET does not expose: a file created or renamed is durable only once its directory is fsynced.</summary>
internal static partial class DurableFiles
{
    private const int ReadOnlyDirectory = 0x10000; // O_RDONLY | O_DIRECTORY on Linux

    /// <summary>Makes creations, renames and deletions in <paramref name="directory"/> durable. A no-op where POSIX directories cannot be opened.</summary>
    public static void FsyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
            return;
        var flags = OperatingSystem.IsLinux() ? ReadOnlyDirectory : 0;
        var fd = Open(directory, flags);
        if (fd < 0)
            return;
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync of directory failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>Replaces <paramref name="path"/> atomically with <paramref name="content"/>: write a temp file, fsync it, rename, fsync the directory.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        var temp = path + ".tmp";
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, content, 0);
            RandomAccess.FlushToDisk(handle);
        }
        File.Move(temp, path, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// fdatasync on Linux: the file's data and what is needed to read it back (its size) reach the disk, but not its
    /// timestamps. Over blocks already allocated and written (a pre-zeroed file) it needs no file-system journal
    /// commit, which makes it the cheaper of the two by about a third. Elsewhere a full fsync.
    /// </summary>
    public static void FlushData(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }
        if (Fdatasync(handle) != 0)
            throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()}).");
    }

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int Fdatasync(Microsoft.Win32.SafeHandles.SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
