namespace Runnel.Metadata.Entities;

/// <summary>Steps of a resharding round, in the order they run.</summary>
public static class ReshardSteps
{
    /// <summary>Placement rows for the round's children.</summary>
    public const string Place = "PLACE";
    /// <summary>Children opened on their owners; nothing routes to them yet.</summary>
    public const string Open = "OPEN";
    /// <summary>Parents sealed on their owners; writes to their keys wait for the commit.</summary>
    public const string Seal = "SEAL";
    /// <summary>Children rows added and parents closed in one transaction; routing switches to the children.</summary>
    public const string Commit = "COMMIT";
    public const string Done = "DONE";
}

/// <summary>
/// A SplitShard, MergeShards or UpdateShardCount in progress or finished. Plan is the whole change,
/// worked out when it was requested (JSON: rounds of children with their ranges and parents), so a
/// process that resumes it after a crash repeats exactly the same steps. Round and Step say what runs
/// next; every step is idempotent, so running one twice is harmless. Version guards concurrent workers.
/// </summary>
public class ReshardOperationEntity
{
    public Guid Id { get; set; }
    public long StreamId { get; set; }
    public required string Kind { get; set; }
    public required string Plan { get; set; }
    public int Round { get; set; }
    public required string Step { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }
    public long Version { get; set; }
}
