namespace Runnel.Metadata.Entities;

public static class DeliveryStreamTypes
{
    public const string DirectPut = "DirectPut";
    public const string KinesisStreamAsSource = "KinesisStreamAsSource";
}

/// <summary>
/// A Firehose delivery stream. Id is never reused, so progress rows of a deleted delivery stream can never be taken for
/// those of a new one of the same name. Both source types read a data stream with checkpoints: <see cref="SourceStreamId"/>
/// is the user's stream (KinesisStreamAsSource) or the internal backing stream Direct PUT writes into. Delivery
/// progress lives in <see cref="LeaseEntity"/> rows whose ApplicationName is <see cref="LeaseApplicationPrefix"/>
/// followed by the Id, one per source shard.
/// </summary>
public class DeliveryStreamEntity
{
    public const string LeaseApplicationPrefix = "firehose:";

    /// <summary>
    /// Names of backing streams start with this. A colon is not allowed in a Kinesis stream name, so no user stream
    /// can be (or be addressed as) a backing stream, and ListStreams leaves them out.
    /// </summary>
    public const string BackingStreamPrefix = "firehose:";

    public long Id { get; set; }
    public required string Name { get; set; }
    public required string Type { get; set; }
    public required string Status { get; set; }
    /// <summary>ARN of the user's data stream for KinesisStreamAsSource; null for DirectPut.</summary>
    public string? SourceStreamArn { get; set; }
    public string? SourceRoleArn { get; set; }
    public long SourceStreamId { get; set; }
    /// <summary>The destination as an ExtendedS3DestinationConfiguration in JSON, defaults filled in.</summary>
    public required string DestinationConfig { get; set; }
    public string DestinationId { get; set; } = "destinationId-000000000001";
    /// <summary>VersionId of the API: starts at 1 and grows by one with every UpdateDestination.</summary>
    public long VersionId { get; set; } = 1;
    /// <summary>DISABLED, ENABLED (or ENABLING/DISABLING while changing).</summary>
    public string EncryptionStatus { get; set; } = "DISABLED";
    public string? EncryptionKeyType { get; set; }
    public string? EncryptionKeyArn { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastUpdatedAt { get; set; }

    public List<DeliveryStreamTagEntity> Tags { get; set; } = [];

    public static string LeaseApplication(long id) => LeaseApplicationPrefix + id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static string BackingStreamName(long id) => BackingStreamPrefix + id.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

public class DeliveryStreamTagEntity
{
    public long DeliveryStreamId { get; set; }
    public required string Key { get; set; }
    public string Value { get; set; } = "";
}
