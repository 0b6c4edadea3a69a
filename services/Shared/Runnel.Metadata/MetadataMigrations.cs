using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Runnel.Metadata;

/// <summary>
/// Applies the checked-in migrations of the configured provider. Deployed services never call this at
/// start: the Migrator runs as a Helm hook Job. Standalone calls it for its own embedded store.
/// </summary>
public static class MetadataMigrations
{
    /// <summary>
    /// Migrates the store behind <see cref="IDbContextFactory{MetadataDbContext}"/> and returns the
    /// migrations it applied (empty when the store was current). Concurrent callers are serialised by
    /// EF Core's migration lock, so two processes racing on one database is safe.
    /// </summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(IServiceProvider services, CancellationToken cancellationToken = default)
    {
        var factory = services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await using var db = await factory.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        EnsureSqliteDirectory(db);
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken).ConfigureAwait(false)).ToList();
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
        return pending;
    }

    /// <summary>SQLite creates the file on open but not its folder, e.g. <c>.data/</c> on a first run.</summary>
    private static void EnsureSqliteDirectory(MetadataDbContext db)
    {
        if (db is not SqliteMetadataDbContext || db.Database.GetConnectionString() is not { } connectionString)
        {
            return;
        }
        var source = new SqliteConnectionStringBuilder(connectionString).DataSource;
        if (string.IsNullOrEmpty(source) || source == ":memory:" || source.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(source));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
    }
}
