using System.ComponentModel.DataAnnotations;

namespace Runnel.ServiceDefaults.Connections;

/// <summary>
/// Limits on the sockets a service accepts (section <c>Connections</c>), applied to every Kestrel endpoint of the
/// process.
/// </summary>
public sealed class ConnectionOptions
{
    public const string Section = "Connections";

    /// <summary>
    /// Open connections beyond this are accepted and closed at once. Unset: half of the process's open-file limit, so
    /// that segment files, journals and the connections to PostgreSQL, Redis and peers always find a descriptor.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long? MaxConcurrentConnections { get; set; }

    /// <summary>
    /// How long a new connection may take to send its first request's headers (or, on the shared cleartext port, the
    /// bytes that tell HTTP/1.1 from HTTP/2). Kestrel's own default is 30 s.
    /// </summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The soft open-file limit of this process (Linux), or null where it cannot be read.</summary>
    public static long? OpenFileLimit()
    {
        const string limits = "/proc/self/limits";
        if (!File.Exists(limits))
            return null;
        foreach (var line in File.ReadLines(limits))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                continue;
            var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 0 && long.TryParse(fields[0], out var soft) ? soft : null;
        }
        return null;
    }

    /// <summary>The configured limit, else half the open-file limit, else Kestrel's default (none).</summary>
    public long? EffectiveMaxConcurrentConnections() =>
        MaxConcurrentConnections ?? (OpenFileLimit() is { } files ? Math.Max(16, files / 2) : null);
}
