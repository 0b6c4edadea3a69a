namespace Runnel.Core.Streams;

/// <summary>ARNs in the AWS form, with the region and account this deployment is configured to report.</summary>
public static class Arns
{
    public static string Stream(string region, string account, string streamName) =>
        $"arn:aws:kinesis:{region}:{account}:stream/{streamName}";

    public static string Consumer(string streamArn, string consumerName, long creationEpochSeconds) =>
        $"{streamArn}/consumer/{consumerName}:{creationEpochSeconds}";

    public static string DeliveryStream(string region, string account, string deliveryStreamName) =>
        $"arn:aws:firehose:{region}:{account}:deliverystream/{deliveryStreamName}";

    /// <summary>
    /// Extracts the stream name from <c>arn:aws:kinesis:region:account:stream/name</c> (a consumer ARN names its
    /// stream too). Region and account are not checked: one deployment answers for one account.
    /// </summary>
    public static bool TryParseStream(string? arn, out string streamName) => TryParse(arn, "kinesis", "stream/", out streamName);

    /// <summary>Extracts the delivery stream name from <c>arn:aws:firehose:region:account:deliverystream/name</c>.</summary>
    public static bool TryParseDeliveryStream(string? arn, out string deliveryStreamName) =>
        TryParse(arn, "firehose", "deliverystream/", out deliveryStreamName);

    private static bool TryParse(string? arn, string service, string resourceType, out string name)
    {
        name = "";
        if (string.IsNullOrEmpty(arn))
            return false;
        var parts = arn.Split(':', 6);
        if (parts.Length != 6 || parts[0] != "arn" || parts[2] != service)
            return false;
        var resource = parts[5];
        if (!resource.StartsWith(resourceType, StringComparison.Ordinal))
            return false;
        var rest = resource[resourceType.Length..];
        var slash = rest.IndexOf('/');
        if (slash >= 0)
            rest = rest[..slash];
        if (rest.Length == 0)
            return false;
        name = rest;
        return true;
    }
}
