namespace Runnel.EndToEnd.Tests;

internal static class Names
{
    /// <summary>A stream name no other test (or earlier run against the same cluster) uses.</summary>
    public static string Stream(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";
}
