namespace Runnel.TestKit;

/// <summary>Finds the repository and the build outputs of its projects from a running test.</summary>
public static class RepositoryPaths
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    /// <summary>The folder holding Platform.sln, found by walking up from the test's own binaries.</summary>
    public static string Root => RootPath.Value;

    /// <summary>The build configuration the running test was built with (Debug, Release), from its output path.</summary>
    public static string Configuration
    {
        get
        {
            var parts = AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            var bin = Array.LastIndexOf(parts, "bin");
            return bin >= 0 && bin + 1 < parts.Length ? parts[bin + 1] : "Debug";
        }
    }

    /// <summary>
    /// The built <c>{assemblyName}.dll</c> of a project under services/ (e.g. "Runnel.Ingest"), for the
    /// configuration the test runs in; projects referenced with ReferenceOutputAssembly=false are
    /// built before the test, so it exists. Throws with the searched locations when it does not.
    /// </summary>
    public static string ServiceAssembly(string assemblyName)
    {
        var services = Path.Combine(Root, "services");
        var candidates = Directory.EnumerateFiles(services, assemblyName + ".csproj", SearchOption.AllDirectories)
            .Select(project => Path.Combine(Path.GetDirectoryName(project)!, "bin", Configuration))
            .Where(Directory.Exists)
            .SelectMany(bin => Directory.EnumerateFiles(bin, assemblyName + ".dll", SearchOption.AllDirectories))
            // A RuntimeIdentifier adds a folder level; the apphost's .runtimeconfig.json marks the runnable copy.
            .Where(dll => File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
            .OrderByDescending(File.GetLastWriteTimeUtc)
            .ToList();
        if (candidates.Count == 0)
        {
            throw new FileNotFoundException(
                $"No built {assemblyName}.dll ({Configuration}) under {services}. Reference its project from the test " +
                "project with ReferenceOutputAssembly=false so it is built first, or build it.");
        }

        return candidates[0];
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Platform.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"Platform.sln not found above {AppContext.BaseDirectory}.");
    }
}
