namespace Runnel.Metadata.Entities;

/// <summary>
/// A resource-based policy (PutResourcePolicy) on a stream or on one of its registered consumers. The row goes with its
/// stream, and a consumer's with its consumer (cascading foreign keys), so a stream created again under the same name
/// starts without one.
/// </summary>
public class ResourcePolicyEntity
{
    /// <summary>The stream's or consumer's ARN, as the client gave it in ResourceARN.</summary>
    public required string ResourceArn { get; set; }
    public long StreamId { get; set; }
    /// <summary>Set for a consumer's policy.</summary>
    public long? ConsumerId { get; set; }
    /// <summary>The policy document (IAM JSON) exactly as put.</summary>
    public required string Document { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
