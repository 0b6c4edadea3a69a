namespace Runnel.Metadata.Entities;

/// <summary>
/// An event source mapping: records of a stream delivered in batches to an HTTP endpoint (the "function"), in the
/// shape of AWS Lambda's Kinesis event source mappings. Delivery progress lives in <see cref="LeaseEntity"/> rows
/// whose ApplicationName is <see cref="LeaseApplicationPrefix"/> followed by the UUID, one per shard.
/// </summary>
public class EventSourceMappingEntity
{
    public const string LeaseApplicationPrefix = "esm:";

    public required string Uuid { get; set; }
    /// <summary>The stream incarnation the mapping reads; a re-created stream of the same name is another one.</summary>
    public long StreamId { get; set; }
    public required string EventSourceArn { get; set; }
    /// <summary>Absolute http(s) URL the batches are POSTed to.</summary>
    public required string FunctionName { get; set; }
    public bool Enabled { get; set; }
    public required string State { get; set; }
    public string StateTransitionReason { get; set; } = "User action";
    public int BatchSize { get; set; }
    public int MaximumBatchingWindowInSeconds { get; set; }
    public required string StartingPosition { get; set; }
    public DateTimeOffset? StartingPositionTimestamp { get; set; }
    public int ParallelizationFactor { get; set; }
    /// <summary>-1: retry until the record expires.</summary>
    public int MaximumRetryAttempts { get; set; }
    public bool BisectBatchOnFunctionError { get; set; }
    /// <summary>-1: no limit beyond the stream's retention.</summary>
    public int MaximumRecordAgeInSeconds { get; set; }
    /// <summary>Stream ARN that receives one record per batch that exhausted its retries or age.</summary>
    public string? OnFailureDestination { get; set; }
    public bool ReportBatchItemFailures { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset LastModified { get; set; }
    public string LastProcessingResult { get; set; } = "No records processed";
    /// <summary>Optimistic concurrency token, bumped on every change.</summary>
    public long Version { get; set; }
}
