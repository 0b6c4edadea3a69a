using System.Text.Json.Nodes;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// The Debian AWS CLI v2 (from RUNNEL_AWS_CLI) pointed at one endpoint, isolated from any user
/// configuration: the test administrator key unless given another, us-east-1, no pager, no metadata-service lookups.
/// </summary>
public sealed class AwsCli(Uri endpoint, string accessKeyId = TestCredentials.AccessKeyId, string secretAccessKey = TestCredentials.SecretAccessKey)
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    private readonly Dictionary<string, string?> _environment = new()
    {
        ["AWS_ACCESS_KEY_ID"] = accessKeyId,
        ["AWS_SECRET_ACCESS_KEY"] = secretAccessKey,
        ["AWS_DEFAULT_REGION"] = "us-east-1",
        ["AWS_REGION"] = "us-east-1",
        ["AWS_PAGER"] = "",
        ["AWS_CONFIG_FILE"] = "/dev/null",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
        ["AWS_CLI_AUTO_PROMPT"] = "off",
        // One attempt: a failure must show as the server's answer, not as a retried timeout.
        ["AWS_MAX_ATTEMPTS"] = "1",
        ["AWS_PROFILE"] = null,
        ["AWS_SESSION_TOKEN"] = null,
    };

    /// <summary>A PEM file of the roots to trust on an https endpoint instead of the system's (<c>AWS_CA_BUNDLE</c>).</summary>
    public string? CaBundle
    {
        get => _environment.GetValueOrDefault("AWS_CA_BUNDLE");
        init => _environment["AWS_CA_BUNDLE"] = value;
    }

    /// <summary>The session token of temporary credentials (<c>AWS_SESSION_TOKEN</c>), sent as <c>X-Amz-Security-Token</c>.</summary>
    public string? SessionToken
    {
        get => _environment.GetValueOrDefault("AWS_SESSION_TOKEN");
        init => _environment["AWS_SESSION_TOKEN"] = value;
    }

    /// <summary>Runs <c>aws {arguments} --endpoint-url {endpoint} --output json</c>.</summary>
    public Task<CommandResult> RunAsync(params string[] arguments) =>
        ExternalCommand.RunAsync(TestServers.AwsCli(), [.. arguments, "--endpoint-url", endpoint.ToString().TrimEnd('/'), "--output", "json"],
            CallTimeout, _environment, cancellationToken: TestContext.Current.CancellationToken);

    /// <summary>Runs a command that must succeed and returns its JSON answer (null when it prints nothing).</summary>
    public async Task<JsonObject?> JsonAsync(params string[] arguments)
    {
        var result = await RunAsync(arguments);
        Assert.True(result.Succeeded, result.Describe("aws " + string.Join(' ', arguments)));
        var text = result.StandardOutput.Trim();
        return text.Length == 0 ? null : JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Runs a command that must fail with the given error type, and returns the CLI's message.</summary>
    public async Task<string> FailsWithAsync(string errorType, params string[] arguments)
    {
        var result = await RunAsync(arguments);
        Assert.False(result.Succeeded, "expected a failure: " + result.Describe("aws " + string.Join(' ', arguments)));
        Assert.Contains($"({errorType})", result.StandardError, StringComparison.Ordinal);
        return result.StandardError;
    }
}
