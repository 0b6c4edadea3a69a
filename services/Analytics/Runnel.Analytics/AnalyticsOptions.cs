using System.ComponentModel.DataAnnotations;

namespace Runnel.Analytics;

/// <summary>Bound from the <c>Analytics</c> section and validated on start.</summary>
public sealed class AnalyticsOptions
{
    public const string Section = "Analytics";

    /// <summary>Running SQL applications per deployment.</summary>
    [Range(1, 10000)]
    public int MaxApplications { get; set; } = 50;

    /// <summary>Upper bound for one ad-hoc query through the query API.</summary>
    [Range(1, 3600)]
    public int QueryTimeoutSeconds { get; set; } = 30;
}
