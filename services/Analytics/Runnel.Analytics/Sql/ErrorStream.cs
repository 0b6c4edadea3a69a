using System.Text;

namespace Runnel.Analytics.Sql;

/// <summary>
/// The in-application error stream, <c>error_stream</c>, with AWS's schema. Pumps put a row there for every row they
/// could not evaluate and every row that came after its window closed; the code cannot read or write it, an output
/// named <c>error_stream</c> delivers it.
/// </summary>
public static class ErrorStream
{
    public const string Name = "error_stream";

    public const string Level = "ERROR";

    /// <summary>A row whose event-time window had already closed (the watermark passed the window's end).</summary>
    public const string LateRow = "LATE_ROW";

    /// <summary>A row a pump could not evaluate (a value of the wrong kind, division by zero).</summary>
    public const string EvaluationError = "EVALUATION_ERROR";

    public static bool IsNamed(string name) => string.Equals(name, Name, StringComparison.OrdinalIgnoreCase);

    public static StreamSchema Schema() => new(Name,
    [
        new SqlColumn("ERROR_TIME", SqlKind.Timestamp, "TIMESTAMP"),
        new SqlColumn("ERROR_LEVEL", SqlKind.Varchar, "VARCHAR(10)"),
        new SqlColumn("ERROR_NAME", SqlKind.Varchar, "VARCHAR(32)"),
        new SqlColumn("MESSAGE", SqlKind.Varchar, "VARCHAR(4096)"),
        new SqlColumn("DATA_ROWTIME", SqlKind.Timestamp, "TIMESTAMP"),
        new SqlColumn("DATA_ROW", SqlKind.Varchar, "VARCHAR(49152)"),
        new SqlColumn("PUMP_NAME", SqlKind.Varchar, "VARCHAR(128)"),
    ], isSource: false);

    /// <summary>
    /// The error row: ROWTIME and DATA_ROWTIME are the failed row's ROWTIME (so a replay gives the same row), ERROR_TIME
    /// the clock; DATA_ROW is the hex of the row's visible values as UTF-8 text joined by commas, as AWS hex-encodes the
    /// original row.
    /// </summary>
    internal static object?[] Row(string errorName, string message, object?[] row, StreamSchema source, string pump)
    {
        var text = string.Join(",", row.Skip(source.Hidden).Select(v => v is null ? "" : (string)Values.Coerce(v, SqlKind.Varchar)!));
        var rowtime = row.Length > 0 && row[0] is DateTime t ? t : DateTime.UtcNow;
        return [rowtime, DateTime.UtcNow, Level, errorName, message.Length > 4096 ? message[..4096] : message, rowtime,
            Convert.ToHexString(Encoding.UTF8.GetBytes(text)), pump];
    }
}
