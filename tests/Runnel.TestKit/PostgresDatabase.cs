using Npgsql;

namespace Runnel.TestKit;

/// <summary>
/// A database of its own on the test PostgreSQL server, created empty and dropped (connections
/// forced closed) on dispose, so fixtures never see each other's rows.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly string _serverConnectionString;

    private PostgresDatabase(string serverConnectionString, string name, string connectionString)
    {
        _serverConnectionString = serverConnectionString;
        Name = name;
        ConnectionString = connectionString;
    }

    public string Name { get; }

    /// <summary>Connection string to this database (pooling off, so a drop never waits on idle pooled connections).</summary>
    public string ConnectionString { get; }

    /// <summary>Creates <c>runnel_{prefix}_{random}</c> on the server from <see cref="TestServers.PostgresAsync"/>.</summary>
    public static async Task<PostgresDatabase> CreateAsync(string prefix = "test", CancellationToken cancellationToken = default)
    {
        var server = await TestServers.PostgresAsync().ConfigureAwait(false);
        var safe = new string(prefix.ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '_').ToArray());
        // PostgreSQL truncates identifiers at 63 bytes: 7 + 40 + 1 + 12 stays below, and 12 random hex
        // characters (48 bits) keep concurrent fixtures apart.
        var stem = safe.Length > 40 ? safe[..40] : safe;
        var name = $"runnel_{stem}_{Guid.NewGuid().ToString("N")[..12]}";

        var admin = new NpgsqlConnectionStringBuilder(server) { Database = "postgres", Pooling = false };
        await using (var connection = new NpgsqlConnection(admin.ConnectionString))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var own = new NpgsqlConnectionStringBuilder(server) { Database = name, Pooling = false };
        return new PostgresDatabase(admin.ConnectionString, name, own.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await using var connection = new NpgsqlConnection(_serverConnectionString);
            await connection.OpenAsync().ConfigureAwait(false);
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch (NpgsqlException)
        {
            // The server may already be gone at the end of a run; the database dies with it.
        }
    }
}
