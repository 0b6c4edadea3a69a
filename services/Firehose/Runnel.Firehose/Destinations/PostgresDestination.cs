using System.Globalization;
using System.Text.Json;
using Npgsql;
using Runnel.Core.Wire;
using Runnel.Firehose.Api;

namespace Runnel.Firehose.Destinations;

/// <summary>
/// The PostgreSQL load of a RedshiftDestinationConfiguration whose ClusterJDBCURL is <c>jdbc:postgresql://host[:port]/db</c>:
/// every batch is staged as an object under the S3Configuration (an <see cref="S3Destination"/> carrying this load) and
/// then copied into <see cref="Table"/>. Stored inside the staging destination's JSON.
/// </summary>
public sealed record PostgresDestination
{
    /// <summary>AWS's default and range for RetryOptions.DurationInSeconds of Redshift.</summary>
    public const int DefaultRetrySeconds = 3600;

    public required string RoleArn { get; init; }
    public required string JdbcUrl { get; init; }
    public required string Username { get; init; }
    public required string Password { get; init; }
    public required string Table { get; init; }
    public string? Columns { get; init; }
    public string? CopyOptions { get; init; }
    public int RetrySeconds { get; init; } = DefaultRetrySeconds;

    private static readonly HashSet<string> Members =
    [
        "RoleARN", "ClusterJDBCURL", "CopyCommand", "Username", "Password", "RetryOptions", "S3Configuration",
        "ProcessingConfiguration", "S3BackupMode", "S3BackupConfiguration", "CloudWatchLoggingOptions", "SecretsManagerConfiguration",
    ];

    private static readonly HashSet<string> UpdateMembers = [.. Members.Where(m => m != "S3Configuration"), "S3Update"];

    /// <summary>
    /// Reads a RedshiftDestinationConfiguration (<paramref name="current"/> null) or a RedshiftDestinationUpdate of the
    /// staging destination <paramref name="current"/>; the answer is the staging destination with the load attached.
    /// </summary>
    public static S3Destination Read(JsonElement config, string structure, S3Destination? current)
    {
        var update = current is not null;
        JsonMembers.OnlyKnown(config, structure, update ? UpdateMembers : Members);
        var was = current?.Postgres;
        var url = JsonMembers.String(config, "ClusterJDBCURL") ?? was?.JdbcUrl ?? throw FirehoseErrors.Invalid($"{structure}.ClusterJDBCURL is required.");
        ConnectionString(url, "x", "x");
        var role = JsonMembers.String(config, "RoleARN") ?? was?.RoleArn ?? throw FirehoseErrors.Invalid($"{structure}.RoleARN is required.");
        if (JsonMembers.Object(config, "SecretsManagerConfiguration") is { } secrets && JsonMembers.Boolean(secrets, "Enabled") == true)
            throw FirehoseErrors.Invalid("SecretsManagerConfiguration is not supported by this deployment; give Username and Password.");
        var user = JsonMembers.String(config, "Username") ?? was?.Username ?? throw FirehoseErrors.Invalid($"{structure}.Username is required.");
        var password = JsonMembers.String(config, "Password") ?? was?.Password ?? throw FirehoseErrors.Invalid($"{structure}.Password is required.");
        if (user.Length is < 1 or > 512 || password.Length is < 6 or > 512)
            throw FirehoseErrors.Invalid($"{structure}: Username must be 1-512 and Password 6-512 characters.");

        var table = was?.Table;
        var columns = was?.Columns;
        var options = was?.CopyOptions;
        if (JsonMembers.Object(config, "CopyCommand") is { } copy)
        {
            JsonMembers.OnlyKnown(copy, "CopyCommand", new HashSet<string> { "DataTableName", "DataTableColumns", "CopyOptions" });
            table = JsonMembers.String(copy, "DataTableName") ?? throw FirehoseErrors.Invalid("CopyCommand.DataTableName is required.");
            columns = Blank(JsonMembers.String(copy, "DataTableColumns"));
            options = Blank(JsonMembers.String(copy, "CopyOptions"));
        }
        if (table is null)
            throw FirehoseErrors.Invalid($"{structure}.CopyCommand is required.");
        PostgresTable.SplitName(table);
        if (columns is not null)
            PostgresTable.SplitColumns(columns);
        CopyFormat.Parse(options);

        var retry = was?.RetrySeconds ?? DefaultRetrySeconds;
        if (JsonMembers.Object(config, "RetryOptions") is { } r)
        {
            JsonMembers.OnlyKnown(r, "RetryOptions", new HashSet<string> { "DurationInSeconds" });
            retry = (int)(JsonMembers.Integer(r, "DurationInSeconds") ?? DefaultRetrySeconds);
            if (retry is < 0 or > 7200)
                throw FirehoseErrors.Invalid($"RetryOptions.DurationInSeconds must be between 0 and 7200, got {retry}.");
        }
        S3Destination.RefuseBackup(config);
        if (JsonMembers.Object(config, "ProcessingConfiguration") is { } p && JsonMembers.Boolean(p, "Enabled") == true)
            throw FirehoseErrors.Invalid("ProcessingConfiguration is not supported by this deployment yet.");

        var stagingMember = update ? "S3Update" : "S3Configuration";
        var staging = JsonMembers.Object(config, stagingMember) is { } s3
            ? S3Destination.Read(s3, extended: false, $"{structure}.{stagingMember}", current)
            : current ?? throw FirehoseErrors.Invalid($"{structure}.S3Configuration is required.");
        if (staging.CompressionFormat is not (Compressions.Uncompressed or Compressions.Gzip))
            throw FirehoseErrors.Invalid($"{stagingMember}.CompressionFormat {staging.CompressionFormat} is not allowed for this destination; use UNCOMPRESSED or GZIP.");
        return staging.WithLogging(config) with
        {
            Extended = false,
            Postgres = new PostgresDestination
            {
                RoleArn = role, JdbcUrl = url, Username = user, Password = password, Table = table, Columns = columns, CopyOptions = options, RetrySeconds = retry,
            },
        };
    }

    /// <summary>The host the load connects to, for the outbound allow-list.</summary>
    public Uri Endpoint
    {
        get
        {
            var b = new NpgsqlConnectionStringBuilder(ConnectionString(JdbcUrl, Username, Password));
            return new UriBuilder("postgresql", b.Host, b.Port).Uri;
        }
    }

    public string ConnectionString() => ConnectionString(JdbcUrl, Username, Password);

    /// <summary>
    /// <c>jdbc:postgresql://host[:port]/database</c> with an optional <c>?sslmode=disable|prefer|require</c>; the port
    /// defaults to 5432 as in the PostgreSQL JDBC driver.
    /// </summary>
    public static string ConnectionString(string jdbcUrl, string user, string password)
    {
        const string Scheme = "jdbc:postgresql://";
        if (jdbcUrl.Length > 512 || !jdbcUrl.StartsWith(Scheme, StringComparison.Ordinal)
            || !Uri.TryCreate("postgresql://" + jdbcUrl[Scheme.Length..], UriKind.Absolute, out var uri)
            || string.IsNullOrEmpty(uri.Host) || uri.AbsolutePath.Trim('/').Length == 0 || uri.AbsolutePath.Trim('/').Contains('/') || uri.UserInfo.Length > 0)
            throw FirehoseErrors.Invalid($"ClusterJDBCURL '{jdbcUrl}' must be jdbc:postgresql://host[:port]/database (Redshift clusters are not reachable from this deployment).");
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/')),
            Username = user,
            Password = password,
            // Loads are few and large: a short idle lifetime keeps no connection open to a database between batches for long.
            ConnectionIdleLifetime = 60,
        };
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = pair.Split('=', 2) is [var k, var v] ? (k, v) : (pair, "");
            b.SslMode = key == "sslmode" ? value switch
            {
                "disable" => SslMode.Disable,
                "prefer" => SslMode.Prefer,
                "require" => SslMode.Require,
                _ => throw FirehoseErrors.Invalid($"ClusterJDBCURL: sslmode must be disable, prefer or require, got '{value}'."),
            } : throw FirehoseErrors.Invalid($"ClusterJDBCURL: the parameter '{key}' is not supported; only sslmode is.");
        }
        return b.ConnectionString;
    }

    private static string? Blank(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>Writes the RedshiftDestinationDescription members (never the password, as AWS).</summary>
    public void Describe(WireWriter w, S3Destination staging)
    {
        w.String("RoleARN", RoleArn);
        w.String("ClusterJDBCURL", JdbcUrl);
        w.StartObject("CopyCommand");
        w.String("DataTableName", Table);
        if (Columns is not null)
            w.String("DataTableColumns", Columns);
        if (CopyOptions is not null)
            w.String("CopyOptions", CopyOptions);
        w.EndObject();
        w.String("Username", Username);
        w.StartObject("RetryOptions");
        w.Number("DurationInSeconds", RetrySeconds);
        w.EndObject();
        w.StartObject("S3DestinationDescription");
        staging.Describe(w, extended: false);
        w.EndObject();
        w.String("S3BackupMode", "Disabled");
        w.StartObject("CloudWatchLoggingOptions");
        w.Boolean("Enabled", staging.LoggingEnabled);
        if (staging.LogGroupName is not null)
            w.String("LogGroupName", staging.LogGroupName);
        if (staging.LogStreamName is not null)
            w.String("LogStreamName", staging.LogStreamName);
        w.EndObject();
    }
}

/// <summary>How staged objects are parsed: the subset of Redshift's COPY options that maps onto records.</summary>
public sealed record CopyFormat(CopyFormat.Kinds Kind, char Delimiter, bool IgnoreCase)
{
    public enum Kinds { Text, Csv, Json }

    /// <summary>
    /// <c>JSON 'auto'</c> / <c>JSON 'auto ignorecase'</c>, <c>CSV</c>, <c>DELIMITER [AS] 'c'</c>, <c>FORMAT AS</c> before
    /// either, and <c>GZIP</c> (the staged object's compression comes from S3Configuration, so it changes nothing).
    /// Without options a record line is text split at '|', Redshift's default.
    /// </summary>
    public static CopyFormat Parse(string? options)
    {
        var format = new CopyFormat(Kinds.Text, '|', false);
        var tokens = Tokens(options ?? "");
        for (var i = 0; i < tokens.Count; i++)
        {
            switch (tokens[i].ToUpperInvariant())
            {
                case "FORMAT" when i + 1 < tokens.Count && tokens[i + 1].Equals("AS", StringComparison.OrdinalIgnoreCase):
                    i++;
                    break;
                case "FORMAT":
                case "GZIP":
                    break;
                case "CSV":
                    format = format with { Kind = Kinds.Csv, Delimiter = format.Delimiter == '|' ? ',' : format.Delimiter };
                    break;
                case "JSON":
                    var mode = i + 1 < tokens.Count ? tokens[++i] : "";
                    if (!mode.Equals("'auto'", StringComparison.OrdinalIgnoreCase) && !mode.Equals("'auto ignorecase'", StringComparison.OrdinalIgnoreCase))
                        throw FirehoseErrors.Invalid($"CopyOptions: JSON takes 'auto' or 'auto ignorecase' (JSONPaths files are not supported), got {mode}.");
                    format = format with { Kind = Kinds.Json, IgnoreCase = mode.Contains("ignorecase", StringComparison.OrdinalIgnoreCase) };
                    break;
                case "DELIMITER":
                    if (i + 1 < tokens.Count && tokens[i + 1].Equals("AS", StringComparison.OrdinalIgnoreCase))
                        i++;
                    var d = i + 1 < tokens.Count ? tokens[++i] : "";
                    if (d.Length != 3 || d[0] != '\'' || d[2] != '\'' || d[1] is '\n' or '\r' or '"')
                        throw FirehoseErrors.Invalid($"CopyOptions: DELIMITER takes one quoted character, got {d}.");
                    format = format with { Delimiter = d[1] };
                    break;
                default:
                    throw FirehoseErrors.Invalid($"CopyOptions: '{tokens[i]}' is not supported by this deployment; use JSON 'auto', CSV, DELIMITER 'c' or GZIP.");
            }
        }
        return format;
    }

    /// <summary>Splits at white space outside single quotes.</summary>
    private static List<string> Tokens(string options)
    {
        var tokens = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var c in options)
        {
            if (c == '\'')
                quoted = !quoted;
            if (char.IsWhiteSpace(c) && !quoted)
            {
                if (current.Length > 0)
                    tokens.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }
        if (quoted)
            throw FirehoseErrors.Invalid("CopyOptions: a quote is not closed.");
        if (current.Length > 0)
            tokens.Add(current.ToString());
        return tokens;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Kind} '{Delimiter}'");
}
