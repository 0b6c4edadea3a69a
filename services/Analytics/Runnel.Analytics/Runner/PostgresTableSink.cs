using System.Text;
using Npgsql;
using NpgsqlTypes;
using Runnel.Analytics.Applications;
using Runnel.Analytics.Sql;
using Runnel.Leases;

namespace Runnel.Analytics.Runner;

/// <summary>
/// Runnel's table output: rows of an in-application stream upserted into a PostgreSQL table by its key columns (the
/// window and the group), and the application's checkpoint written in the same transaction into
/// <c>runnel_analytics_checkpoints</c> of the same database. After a crash the application resumes from the last
/// committed checkpoint, so a window's rows are neither lost nor applied twice: the upsert of a window emitted again
/// replaces what the same window wrote before. Column names are the stream's, lower-cased.
/// Commits are fenced: the checkpoint row keeps the lease epoch of the replica that wrote it, and a replica whose
/// epoch is older (it lost the application to another) can no longer commit. An application deleted and created again
/// under its name (another creation time) starts over.
/// </summary>
public sealed class PostgresTableSink(string connectionString, string application, long created, long epoch)
{
    private const string CheckpointTable = "runnel_analytics_checkpoints";

    /// <summary>Creates the checkpoint table and any missing output table (columns typed from the stream).</summary>
    public async Task EnsureAsync(IEnumerable<(PostgresTableOutput Output, StreamSchema Schema)> tables, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        var sql = new StringBuilder($"CREATE TABLE IF NOT EXISTS {CheckpointTable} (application text PRIMARY KEY, created bigint NOT NULL, epoch bigint NOT NULL, state text NOT NULL, updated_at timestamptz NOT NULL);");
        foreach (var (output, schema) in tables)
        {
            var columns = schema.Visible.Select(c => $"{Quote(c.Name)} {PgType(c.Kind)}");
            var keys = output.KeyColumns.Select(Quote);
            sql.Append($"CREATE TABLE IF NOT EXISTS {Quote(output.Table)} ({string.Join(", ", columns)}, PRIMARY KEY ({string.Join(", ", keys)}));");
        }
        await using var cmd = new NpgsqlCommand(sql.ToString(), conn);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task<string?> LoadCheckpointAsync(CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand($"SELECT state FROM {CheckpointTable} WHERE application = @a AND created = @c", conn);
        cmd.Parameters.AddWithValue("a", application);
        cmd.Parameters.AddWithValue("c", created);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    /// <summary>Upserts every table's rows and moves the checkpoint, all or nothing.</summary>
    public async Task CommitAsync(IEnumerable<(PostgresTableOutput Output, StreamSchema Schema, List<object?[]> Rows)> batches, string checkpoint, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var (output, schema, rows) in batches)
        {
            if (rows.Count > 0)
                await UpsertAsync(conn, tx, output, schema, rows, ct).ConfigureAwait(false);
        }
        await using (var cmd = new NpgsqlCommand(
            $"INSERT INTO {CheckpointTable} AS c (application, created, epoch, state, updated_at) VALUES (@a, @c, @e, @s, now()) " +
            "ON CONFLICT (application) DO UPDATE SET created = EXCLUDED.created, epoch = EXCLUDED.epoch, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at " +
            "WHERE c.created <> EXCLUDED.created OR c.epoch <= EXCLUDED.epoch", conn, tx))
        {
            cmd.Parameters.AddWithValue("a", application);
            cmd.Parameters.AddWithValue("c", created);
            cmd.Parameters.AddWithValue("e", epoch);
            cmd.Parameters.AddWithValue("s", checkpoint);
            // Nothing written: a replica with a newer epoch holds the application; the upserts roll back with the transaction.
            if (await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                throw new LeaseLostException($"Application {application} is committed by a newer holder than epoch {epoch}.");
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// PostgreSQL binds at most 65,535 parameters per statement, so rows go in chunks of at most that many values.
    /// Within a chunk the last row of a key wins (one statement may not touch a row twice).
    /// </summary>
    private static async Task UpsertAsync(NpgsqlConnection conn, NpgsqlTransaction tx, PostgresTableOutput output, StreamSchema schema, List<object?[]> rows, CancellationToken ct)
    {
        var columns = schema.Columns.Select((c, i) => (c, i)).Skip(schema.Hidden).ToList();
        var keyIndexes = output.KeyColumns.Select(k => schema.IndexOf(k)).ToArray();
        var unique = rows.GroupBy(r => string.Join('\u001f', keyIndexes.Select(i => Values.Describe(r[i])))).Select(g => g.Last()).ToList();
        var perChunk = Math.Max(1, 60_000 / columns.Count);
        var names = string.Join(", ", columns.Select(c => Quote(c.c.Name)));
        var keys = string.Join(", ", output.KeyColumns.Select(Quote));
        var nonKeys = columns.Where(c => !output.KeyColumns.Any(k => string.Equals(k, c.c.Name, StringComparison.OrdinalIgnoreCase))).ToList();
        var update = nonKeys.Count == 0
            ? "DO NOTHING"
            : "DO UPDATE SET " + string.Join(", ", nonKeys.Select(c => $"{Quote(c.c.Name)} = EXCLUDED.{Quote(c.c.Name)}"));
        foreach (var chunk in unique.Chunk(perChunk))
        {
            await using var cmd = new NpgsqlCommand { Connection = conn, Transaction = tx };
            var sql = new StringBuilder($"INSERT INTO {Quote(output.Table)} ({names}) VALUES ");
            var p = 0;
            for (var r = 0; r < chunk.Length; r++)
            {
                sql.Append(r == 0 ? "(" : ", (");
                for (var c = 0; c < columns.Count; c++)
                {
                    var name = "p" + p++;
                    sql.Append(c == 0 ? "@" : ", @").Append(name);
                    cmd.Parameters.Add(Parameter(name, columns[c].c.Kind, chunk[r][columns[c].i]));
                }
                sql.Append(')');
            }
            sql.Append($" ON CONFLICT ({keys}) {update}");
            cmd.CommandText = sql.ToString();
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    private static NpgsqlParameter Parameter(string name, SqlKind kind, object? value) => kind switch
    {
        SqlKind.Integer => new NpgsqlParameter(name, NpgsqlDbType.Bigint) { Value = value ?? DBNull.Value },
        SqlKind.Double => new NpgsqlParameter(name, NpgsqlDbType.Double) { Value = value ?? DBNull.Value },
        SqlKind.Boolean => new NpgsqlParameter(name, NpgsqlDbType.Boolean) { Value = value ?? DBNull.Value },
        SqlKind.Timestamp => new NpgsqlParameter(name, NpgsqlDbType.Timestamp) { Value = value is DateTime t ? DateTime.SpecifyKind(t, DateTimeKind.Unspecified) : DBNull.Value },
        _ => new NpgsqlParameter(name, NpgsqlDbType.Text) { Value = value ?? DBNull.Value },
    };

    private static string PgType(SqlKind kind) => kind switch
    {
        SqlKind.Integer => "bigint",
        SqlKind.Double => "double precision",
        SqlKind.Boolean => "boolean",
        SqlKind.Timestamp => "timestamp",
        _ => "text",
    };

    private static string Quote(string name) => "\"" + name.ToLowerInvariant().Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
