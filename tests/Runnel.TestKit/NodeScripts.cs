namespace Runnel.TestKit;

/// <summary>
/// Runs the AWS SDK for JavaScript scripts in tests/js (installed with <c>npm ci</c>, as .ci/run does) with
/// <c>node --test</c> against a Runnel endpoint. The script reads RUNNEL_ENDPOINT and whatever else it is given.
/// </summary>
public static class NodeScripts
{
    public static string Directory => Path.Combine(RepositoryPaths.Root, "tests", "js");

    /// <summary>Whether an npm package (e.g. <c>@aws-sdk/client-kinesis</c>) is installed for the scripts.</summary>
    public static bool Installed(string package) =>
        System.IO.Directory.Exists(Path.Combine([Directory, "node_modules", .. package.Split('/')]));

    public static string NotInstalled => $"The JavaScript SDK is not installed: run `npm ci` in {Directory} (.ci/run does).";

    /// <summary>Runs one script with the spec reporter; three minutes is ample for a script of a few dozen calls on a busy machine.</summary>
    public static Task<CommandResult> RunAsync(string script, Uri endpoint, IReadOnlyDictionary<string, string?>? environment, CancellationToken cancellationToken) =>
        ExternalCommand.RunAsync(
            "node", ["--test", "--test-reporter=spec", script],
            TimeSpan.FromMinutes(3),
            new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>())
            {
                ["RUNNEL_ENDPOINT"] = endpoint.ToString().TrimEnd('/'),
                ["NO_COLOR"] = "1",
            },
            Directory,
            cancellationToken: cancellationToken);

    /// <summary>The run exited 0 and its summary counted no failed test.</summary>
    public static bool Passed(CommandResult result) => result.Succeeded && result.StandardOutput.Contains("fail 0", StringComparison.Ordinal);
}
