namespace Runnel.Metadata.Entities;

public static class AnalyticsApplicationStatuses
{
    public const string Deleting = "DELETING";
    public const string Starting = "STARTING";
    public const string Stopping = "STOPPING";
    public const string Ready = "READY";
    public const string Running = "RUNNING";
    public const string Updating = "UPDATING";
}

/// <summary>
/// A Kinesis Analytics SQL application. Inputs, outputs and reference data sources are kept as JSON in the shape of
/// the API's configuration members (with their ids) because they are read and written whole, never queried by field.
/// <see cref="VersionId"/> is the API's ApplicationVersionId: every change bumps it and is conditional on it.
/// </summary>
public class AnalyticsApplicationEntity
{
    public required string Name { get; set; }
    public required string Arn { get; set; }
    public string? Description { get; set; }
    public string? Code { get; set; }
    public long VersionId { get; set; } = 1;
    public required string Status { get; set; }
    public string InputsJson { get; set; } = "[]";
    public string OutputsJson { get; set; } = "[]";
    public string ReferenceDataSourcesJson { get; set; } = "[]";
    public string TagsJson { get; set; } = "{}";
    /// <summary>NOW, TRIM_HORIZON or LAST_STOPPED_POINT of the last StartApplication; read by the runner.</summary>
    public string? StartingPosition { get; set; }
    /// <summary>Changes with every StartApplication, so a runner can tell a restart from the run it checkpointed.</summary>
    public long RunId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// Where a running application is: per input shard the next ordinal to read, and the state of its open windows, both
/// written together so a restart resumes exactly where the emitted results end. Applications with a PostgreSQL table
/// output keep this row in the output database instead (written in the transaction of the upsert).
/// </summary>
public class AnalyticsCheckpointEntity
{
    public required string ApplicationName { get; set; }
    public long RunId { get; set; }
    public required string State { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
