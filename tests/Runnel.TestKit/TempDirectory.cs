namespace Runnel.TestKit;

/// <summary>A fresh directory under the system temp folder, removed with everything in it on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "runnel")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "runnel-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>A path inside this directory (created when <paramref name="create"/> is true).</summary>
    public string Combine(string relative, bool create = false)
    {
        var path = System.IO.Path.Combine(Path, relative);
        if (create)
        {
            Directory.CreateDirectory(path);
        }

        return path;
    }

    public override string ToString() => Path;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A child process may still hold a file for a moment; the OS temp cleaner gets the rest.
        }
    }
}
