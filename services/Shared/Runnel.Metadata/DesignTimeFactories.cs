using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Runnel.Metadata;

/// <summary>
/// Lets <c>dotnet ef migrations add</c> build the PostgreSQL model without a server: adding a migration
/// only compares models and never connects. Applying uses the Migrator with a real connection string.
/// </summary>
public sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresMetadataDbContext>
{
    public PostgresMetadataDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresMetadataDbContext>()
            .UseNpgsql(Environment.GetEnvironmentVariable("RUNNEL_DESIGN_POSTGRES") ?? "Host=localhost;Database=runnel")
            .Options);
}

/// <summary>The SQLite counterpart of <see cref="PostgresDesignTimeFactory"/>.</summary>
public sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteMetadataDbContext>
{
    public SqliteMetadataDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteMetadataDbContext>()
            .UseSqlite("Data Source=runnel-design.db")
            .Options);
}
