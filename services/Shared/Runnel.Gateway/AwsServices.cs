namespace Runnel.Gateway;

/// <summary>
/// A service whose AWS operations the public port serves on its behalf: in process when its module is in the same
/// host (Standalone), forwarded to <see cref="RoutePath"/> at the address named by <see cref="AddressKey"/> (or its
/// Dapr app id) otherwise.
/// </summary>
/// <param name="Operations">The operations under the prefix that belong to this service; null for all of them.</param>
public sealed record AwsService(string Name, string TargetPrefix, IReadOnlySet<string>? Operations, string AddressKey, string DaprAppId, string RoutePath)
{
    public bool Owns(string operation) => Operations is null || Operations.Contains(operation);
}

public static class AwsServices
{
    public const string KinesisPrefix = "Kinesis_20131202.";
    public const string FirehosePrefix = "Firehose_20150804.";
    public const string AnalyticsPrefix = "KinesisAnalytics_20150814.";

    /// <summary>Kinesis's consumer operations, which the FanOut service owns.</summary>
    public static readonly AwsService FanOut = new("fanout", KinesisPrefix,
        new HashSet<string>(StringComparer.Ordinal) { "RegisterStreamConsumer", "DeregisterStreamConsumer", "DescribeStreamConsumer", "ListStreamConsumers", "SubscribeToShard" },
        "FanOut:Address", "fanout", "/v1/fanout/kinesis");

    public static readonly AwsService Firehose = new("firehose", FirehosePrefix, null, "Firehose:Address", "firehose", "/v1/firehose/aws");

    public static readonly AwsService Analytics = new("analytics", AnalyticsPrefix, null, "Analytics:Address", "analytics", "/v1/analytics/aws");

    public static readonly IReadOnlyList<AwsService> All = [FanOut, Firehose, Analytics];

    /// <summary>The IAM action prefix of a target prefix's operations (<c>kinesis</c>, <c>firehose</c>, <c>kinesisanalytics</c>).</summary>
    public static string ActionPrefixOf(string targetPrefix) => targetPrefix switch
    {
        KinesisPrefix => "kinesis",
        FirehosePrefix => "firehose",
        AnalyticsPrefix => "kinesisanalytics",
        _ => throw new ArgumentException($"No IAM service for {targetPrefix}.", nameof(targetPrefix)),
    };

    public static AwsService Named(string name) =>
        All.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"No AWS service named {name}.", nameof(name));
}
