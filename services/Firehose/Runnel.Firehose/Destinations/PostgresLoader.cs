using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Runnel.Firehose.Destinations;

/// <summary>
/// Loads one staged object into the destination table with a binary COPY. The object's key is inserted into
/// <see cref="LoadsTable"/> in the same transaction as the rows, so a key is loaded at most once: a retry, or a replay
/// after a crash between the load and the checkpoint, finds the key and loads nothing.
/// </summary>
public static class PostgresLoader
{
    /// <summary>Bookkeeping table in the destination database (created on first use, in the connection's search path).</summary>
    public const string LoadsTable = "runnel_firehose_loads";

    /// <summary>Rows loaded, or null when the key was loaded before.</summary>
    public static async Task<int?> LoadAsync(PostgresDestination destination, string deliveryStream, string objectKey, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        var format = CopyFormat.Parse(destination.CopyOptions);
        var (schema, table) = PostgresTable.SplitName(destination.Table);
        await using var connection = new NpgsqlConnection(destination.ConnectionString());
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using (var create = new NpgsqlCommand(
            $"CREATE TABLE IF NOT EXISTS {LoadsTable} (object_key text PRIMARY KEY, delivery_stream text NOT NULL, table_name text NOT NULL, row_count bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())",
            connection))
        {
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        var columns = await PostgresTable.ColumnsAsync(connection, schema, table, destination.Columns, ct).ConfigureAwait(false);
        var rows = RecordRows.Parse(format, content, columns);

        await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (var mark = new NpgsqlCommand(
            $"INSERT INTO {LoadsTable} (object_key, delivery_stream, table_name, row_count) VALUES ($1, $2, $3, $4) ON CONFLICT (object_key) DO NOTHING",
            connection, transaction))
        {
            mark.Parameters.Add(new NpgsqlParameter { Value = objectKey });
            mark.Parameters.Add(new NpgsqlParameter { Value = deliveryStream });
            mark.Parameters.Add(new NpgsqlParameter { Value = destination.Table });
            mark.Parameters.Add(new NpgsqlParameter { Value = (long)rows.Count });
            // A concurrent load of the same key waits here on the primary key until the first commits, then inserts nothing.
            if (await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
                return null;
        }
        var target = $"{PostgresTable.Quote(schema)}.{PostgresTable.Quote(table)} ({string.Join(", ", columns.Select(c => PostgresTable.Quote(c.Name)))})";
        await using (var importer = await connection.BeginBinaryImportAsync($"COPY {target} FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false))
        {
            foreach (var row in rows)
            {
                await importer.StartRowAsync(ct).ConfigureAwait(false);
                for (var i = 0; i < columns.Count; i++)
                {
                    if (row[i] is { } value)
                        await importer.WriteAsync(value, columns[i].DbType, ct).ConfigureAwait(false);
                    else
                        await importer.WriteNullAsync(ct).ConfigureAwait(false);
                }
            }
            await importer.CompleteAsync(ct).ConfigureAwait(false);
        }
        await transaction.CommitAsync(ct).ConfigureAwait(false);
        return rows.Count;
    }
}

/// <summary>A column the load writes: its name, its type's name in pg_type and how the binary COPY encodes it.</summary>
public sealed record PostgresColumn(string Name, string TypeName, NpgsqlDbType DbType)
{
    /// <summary>The value of a field's text for this column; an empty field is NULL except in text columns.</summary>
    public object? Convert(string? text)
    {
        if (text is null || (text.Length == 0 && DbType != NpgsqlDbType.Text))
            return null;
        var c = CultureInfo.InvariantCulture;
        return TypeName switch
        {
            "int2" => short.Parse(text, c),
            "int4" => int.Parse(text, c),
            "int8" => long.Parse(text, c),
            "float4" => float.Parse(text, c),
            "float8" => double.Parse(text, c),
            "numeric" => decimal.Parse(text, NumberStyles.Float, c),
            "bool" => text.ToLowerInvariant() switch
            {
                "true" or "t" or "1" or "yes" or "y" => true,
                "false" or "f" or "0" or "no" or "n" => false,
                _ => throw new FormatException($"'{text}' is not a boolean."),
            },
            "uuid" => Guid.Parse(text, c),
            "date" => DateOnly.Parse(text, c),
            "timestamptz" => DateTimeOffset.Parse(text, c, DateTimeStyles.AssumeUniversal).UtcDateTime,
            "timestamp" => DateTime.SpecifyKind(DateTime.Parse(text, c, DateTimeStyles.None), DateTimeKind.Unspecified),
            _ => text,
        };
    }

    public static NpgsqlDbType DbTypeOf(string typeName) => typeName switch
    {
        "int2" => NpgsqlDbType.Smallint,
        "int4" => NpgsqlDbType.Integer,
        "int8" => NpgsqlDbType.Bigint,
        "float4" => NpgsqlDbType.Real,
        "float8" => NpgsqlDbType.Double,
        "numeric" => NpgsqlDbType.Numeric,
        "bool" => NpgsqlDbType.Boolean,
        "uuid" => NpgsqlDbType.Uuid,
        "date" => NpgsqlDbType.Date,
        "timestamptz" => NpgsqlDbType.TimestampTz,
        "timestamp" => NpgsqlDbType.Timestamp,
        "json" => NpgsqlDbType.Json,
        "jsonb" => NpgsqlDbType.Jsonb,
        "varchar" => NpgsqlDbType.Varchar,
        "bpchar" => NpgsqlDbType.Char,
        "text" => NpgsqlDbType.Text,
        _ => throw new NotSupportedException($"Columns of type {typeName} cannot be loaded; use text, varchar, char, int2/4/8, float4/8, numeric, bool, uuid, date, timestamp(tz), json or jsonb."),
    };
}

/// <summary>Table and column names as DataTableName and DataTableColumns give them: unquoted names fold to lower case.</summary>
public static class PostgresTable
{
    public static (string Schema, string Table) SplitName(string name)
    {
        var parts = Identifiers(name, '.', "DataTableName");
        return parts switch
        {
            [var table] => ("public", table),
            [var schema, var table] => (schema, table),
            _ => throw FirehoseErrors.Invalid($"DataTableName '{name}' must be table or schema.table."),
        };
    }

    public static IReadOnlyList<string> SplitColumns(string columns) => Identifiers(columns, ',', "DataTableColumns");

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The listed columns (all of the table's, in order, when none are listed) with their types.</summary>
    public static async Task<IReadOnlyList<PostgresColumn>> ColumnsAsync(NpgsqlConnection connection, string schema, string table, string? listed, CancellationToken ct)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal);
        var order = new List<string>();
        await using (var command = new NpgsqlCommand(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_class r ON r.oid = a.attrelid " +
            "JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = $1 AND r.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            connection))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = schema });
            command.Parameters.Add(new NpgsqlParameter { Value = table });
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                all[reader.GetString(0)] = reader.GetString(1);
                order.Add(reader.GetString(0));
            }
        }
        if (order.Count == 0)
            throw new InvalidOperationException($"The table {schema}.{table} does not exist.");
        var names = listed is null ? order : SplitColumns(listed);
        return [.. names.Select(n => all.TryGetValue(n, out var type)
            ? new PostgresColumn(n, type, PostgresColumn.DbTypeOf(type))
            : throw new InvalidOperationException($"The table {schema}.{table} has no column {n}."))];
    }

    private static List<string> Identifiers(string text, char separator, string member)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        var wasQuoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '"')
            {
                if (quoted && i + 1 < text.Length && text[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else
                {
                    quoted = !quoted;
                    wasQuoted = true;
                }
            }
            else if (c == separator && !quoted)
            {
                parts.Add(Finish(current, wasQuoted, text, member));
                current.Clear();
                wasQuoted = false;
            }
            else if (quoted || !char.IsWhiteSpace(c))
            {
                current.Append(c);
            }
        }
        if (quoted)
            throw FirehoseErrors.Invalid($"{member} '{text}': a quote is not closed.");
        parts.Add(Finish(current, wasQuoted, text, member));
        return parts;
    }

    private static string Finish(StringBuilder current, bool quoted, string text, string member)
    {
        var s = current.ToString();
        if (s.Length is 0 or > 63 || (!quoted && !s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '$')))
            throw FirehoseErrors.Invalid($"{member} '{text}' is not a list of PostgreSQL names (unquoted: letters, digits, _ and $; at most 63 characters).");
        return quoted ? s : s.ToLowerInvariant();
    }
}

/// <summary>Turns a staged object (the batch's records concatenated, uncompressed) into rows of the load's columns.</summary>
public static class RecordRows
{
    public static List<object?[]> Parse(CopyFormat format, ReadOnlyMemory<byte> content, IReadOnlyList<PostgresColumn> columns) =>
        format.Kind == CopyFormat.Kinds.Json ? Json(format, content, columns) : Delimited(format, Encoding.UTF8.GetString(content.Span), columns);

    /// <summary>Consecutive JSON objects, with or without white space between them, as Redshift's JSON 'auto' reads them.</summary>
    private static List<object?[]> Json(CopyFormat format, ReadOnlyMemory<byte> content, IReadOnlyList<PostgresColumn> columns)
    {
        var rows = new List<object?[]>();
        var reader = new Utf8JsonReader(content.Span, new JsonReaderOptions { AllowMultipleValues = true });
        var comparison = format.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        while (reader.Read())
        {
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new FormatException($"Record {rows.Count} is not a JSON object.");
            var row = new object?[columns.Count];
            foreach (var member in document.RootElement.EnumerateObject())
            {
                for (var i = 0; i < columns.Count; i++)
                {
                    if (string.Equals(columns[i].Name, member.Name, comparison))
                        row[i] = columns[i].Convert(Text(member.Value));
                }
            }
            rows.Add(row);
        }
        return rows;
    }

    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => value.GetRawText(),
    };

    /// <summary>
    /// One row per line. CSV follows RFC 4180 (double quotes, which may hold delimiters and line breaks; an unquoted
    /// empty field is NULL); text splits at the delimiter with <c>\N</c> as NULL.
    /// </summary>
    private static List<object?[]> Delimited(CopyFormat format, string text, IReadOnlyList<PostgresColumn> columns)
    {
        var rows = new List<object?[]>();
        var fields = new List<string?>();
        var field = new StringBuilder();
        var csv = format.Kind == CopyFormat.Kinds.Csv;
        bool quoted = false, wasQuoted = false, lineHasContent = false;

        void EndField()
        {
            var s = field.ToString();
            fields.Add(csv ? (s.Length == 0 && !wasQuoted ? null : s) : (s == "\\N" ? null : s));
            field.Clear();
            wasQuoted = false;
        }

        void EndLine()
        {
            if (lineHasContent)
            {
                EndField();
                if (fields.Count != columns.Count)
                    throw new FormatException($"Line {rows.Count + 1} has {fields.Count} fields for {columns.Count} columns.");
                rows.Add([.. fields.Select((f, i) => columns[i].Convert(f))]);
            }
            fields.Clear();
            field.Clear();
            wasQuoted = false;
            lineHasContent = false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
                continue;
            }
            if (c == '\n')
            {
                EndLine();
                continue;
            }
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                continue;
            lineHasContent = true;
            if (csv && c == '"' && field.Length == 0)
            {
                quoted = true;
                wasQuoted = true;
            }
            else if (c == format.Delimiter)
            {
                EndField();
            }
            else
            {
                field.Append(c);
            }
        }
        if (quoted)
            throw new FormatException("A quoted CSV field is not closed.");
        EndLine();
        return rows;
    }
}
