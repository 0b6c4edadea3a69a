using System.ComponentModel.DataAnnotations;

namespace Runnel.Ingest.Resharding;

/// <summary>Resharding workflow settings (section <c>Resharding</c>).</summary>
public sealed class ReshardingOptions
{
    public const string Section = "Resharding";

    /// <summary>
    /// How often unfinished operations are looked for and pushed on (also once at start). An operation is
    /// pushed only when it has not moved for this long, so a live worker is not raced.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RecoveryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// For fault-injection tests only: a step name (PLACE, OPEN, SEAL, COMMIT) before which every operation
    /// stops, as if the process died there. Unset in every real deployment.
    /// </summary>
    public string? PauseBeforeStep { get; set; }
}
