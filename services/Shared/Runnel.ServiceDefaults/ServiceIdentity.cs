using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Runnel.ServiceDefaults;

/// <summary>Who this process is: the node name (<c>Runnel:NodeName</c>, else the host name) and the build version.</summary>
public sealed record ServiceIdentity(string NodeName, string Version)
{
    public static ServiceIdentity From(IConfiguration configuration)
    {
        var node = configuration["Runnel:NodeName"];
        if (string.IsNullOrWhiteSpace(node))
        {
            node = Environment.GetEnvironmentVariable("HOSTNAME");
        }
        if (string.IsNullOrWhiteSpace(node))
        {
            node = Environment.MachineName;
        }
        return new ServiceIdentity(node, VersionOf(Assembly.GetEntryAssembly() ?? typeof(ServiceIdentity).Assembly));
    }

    /// <summary>Informational version without the source-revision suffix that the SDK appends after '+'.</summary>
    public static string VersionOf(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(informational))
        {
            return assembly.GetName().Version?.ToString() ?? "0.0.0";
        }
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? informational : informational[..plus];
    }
}
