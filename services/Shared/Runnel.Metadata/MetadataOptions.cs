namespace Runnel.Metadata;

public enum MetadataProvider
{
    /// <summary>Embedded SQLite file: Standalone's default.</summary>
    Sqlite,
    /// <summary>Shared PostgreSQL: every deployed service.</summary>
    Postgres,
}

/// <summary>Bound from the <c>Metadata</c> section; the connection string is <c>ConnectionStrings:Metadata</c>.</summary>
public sealed class MetadataOptions
{
    public const string Section = "Metadata";

    public MetadataProvider Provider { get; set; } = MetadataProvider.Postgres;
}
