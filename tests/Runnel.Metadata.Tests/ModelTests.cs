using Microsoft.EntityFrameworkCore;

namespace Runnel.Metadata.Tests;

/// <summary>The checked-in migrations match the model: a model change without a migration fails here.</summary>
public sealed class ModelTests
{
    [Fact]
    public void Postgres_migrations_cover_the_model()
    {
        using var db = new PostgresDesignTimeFactory().CreateDbContext([]);
        Assert.False(db.Database.HasPendingModelChanges(),
            "The model changed without a migration: run `dotnet ef migrations add <Name> --project services/Shared/Runnel.Metadata --context PostgresMetadataDbContext --output-dir Migrations/Postgres`.");
        Assert.NotEmpty(db.Database.GetMigrations());
    }

    [Fact]
    public void Sqlite_migrations_cover_the_model()
    {
        using var db = new SqliteDesignTimeFactory().CreateDbContext([]);
        Assert.False(db.Database.HasPendingModelChanges(),
            "The model changed without a migration: run `dotnet ef migrations add <Name> --project services/Shared/Runnel.Metadata --context SqliteMetadataDbContext --output-dir Migrations/Sqlite`.");
        Assert.NotEmpty(db.Database.GetMigrations());
    }

    [Fact]
    public void Both_providers_have_the_same_migration_names()
    {
        using var postgres = new PostgresDesignTimeFactory().CreateDbContext([]);
        using var sqlite = new SqliteDesignTimeFactory().CreateDbContext([]);
        static IEnumerable<string> Names(DbContext db) => db.Database.GetMigrations().Select(m => m[(m.IndexOf('_') + 1)..]);
        Assert.Equal(Names(postgres), Names(sqlite));
    }
}
