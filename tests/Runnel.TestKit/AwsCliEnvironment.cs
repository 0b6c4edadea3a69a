namespace Runnel.TestKit;

/// <summary>
/// Environment for the AWS CLI under test: fixed test credentials and region, no config or credential files, no
/// pager, prompt, metadata lookups or retries (a retry would hide a failed first answer).
/// </summary>
public static class AwsCliEnvironment
{
    public static IReadOnlyDictionary<string, string?> Variables { get; } = new Dictionary<string, string?>
    {
        ["AWS_ACCESS_KEY_ID"] = "AKIDRUNNELTEST",
        ["AWS_SECRET_ACCESS_KEY"] = "runnel-test-secret",
        ["AWS_DEFAULT_REGION"] = "us-east-1",
        ["AWS_REGION"] = "us-east-1",
        ["AWS_PAGER"] = "",
        ["AWS_CONFIG_FILE"] = "/dev/null",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
        ["AWS_CLI_AUTO_PROMPT"] = "off",
        ["AWS_MAX_ATTEMPTS"] = "1",
        ["AWS_PROFILE"] = null,
        ["AWS_SESSION_TOKEN"] = null,
    };
}
