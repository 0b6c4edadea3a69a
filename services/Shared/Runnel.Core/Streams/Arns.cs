namespace Runnel.Core.Streams;

/// <summary>ARNs in the AWS form, with the region and account this deployment is configured to report.</summary>
public static class Arns
{
    public static string Stream(string region, string account, string streamName) =>
        $"arn:aws:kinesis:{region}:{account}:stream/{streamName}";

    public static string Consumer(string streamArn, string consumerName, long creationEpochSeconds) =>
        $"{streamArn}/consumer/{consumerName}:{creationEpochSeconds}";

    /// <summary>
    /// Extracts the stream name from <c>arn:aws:kinesis:region:account:stream/name</c>. Region and
    /// account are not checked: one deployment answers for one account.
    /// </summary>
    public static bool TryParseStream(string? arn, out string streamName)
    {
        streamName = "";
        if (string.IsNullOrEmpty(arn))
            return false;
        var parts = arn.Split(':', 6);
        if (parts.Length != 6 || parts[0] != "arn" || parts[2] != "kinesis")
            return false;
        var resource = parts[5];
        if (!resource.StartsWith("stream/", StringComparison.Ordinal))
            return false;
        var name = resource["stream/".Length..];
        var slash = name.IndexOf('/');
        if (slash >= 0)
            name = name[..slash];
        if (name.Length == 0)
            return false;
        streamName = name;
        return true;
    }
}
