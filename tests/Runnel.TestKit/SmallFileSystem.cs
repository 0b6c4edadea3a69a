using System.Diagnostics;

namespace Runnel.TestKit;

/// <summary>
/// A tmpfs of a fixed size mounted on a fresh temporary folder, for tests that need a file system that really fills up
/// (ENOSPC from the kernel, not a simulated error). Mounting needs root, which CI has; elsewhere the test fails and
/// says so, it never skips.
/// </summary>
public sealed class SmallFileSystem : IDisposable
{
    private readonly TempDirectory _mountPoint = new("smallfs");

    public SmallFileSystem(long sizeBytes)
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("This test mounts a small tmpfs to fill a disk for real: run it as root on Linux (CI does).");
        Run("mount", "-t", "tmpfs", "-o", $"size={sizeBytes / 1024}k,mode=0755", "tmpfs", _mountPoint.Path);
    }

    public string Path => _mountPoint.Path;

    public long AvailableBytes => new DriveInfo(Path).AvailableFreeSpace;

    /// <summary>Writes a file of zeros that leaves about <paramref name="leaveFreeBytes"/> available.</summary>
    public string FillLeaving(long leaveFreeBytes, string name = "ballast")
    {
        var path = System.IO.Path.Combine(Path, name);
        var size = AvailableBytes - leaveFreeBytes;
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            var chunk = new byte[64 * 1024];
            for (long written = 0; written < size; written += chunk.Length)
                file.Write(chunk, 0, (int)Math.Min(chunk.Length, size - written));
        }
        return path;
    }

    public void Dispose()
    {
        // Lazy: a store the test did not close may still hold files open.
        Run("umount", "-l", Path);
        _mountPoint.Dispose();
    }

    private static void Run(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000) || process.ExitCode != 0)
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed: {error}");
    }
}
