using System.Globalization;

namespace Runnel.Analytics.Sql;

/// <summary>Conversions and comparisons of run-time values: long, double, string, bool, DateTime (UTC), TimeSpan, null.</summary>
internal static class Values
{
    public static TimeSpan? UnitLength(string unit) => unit switch
    {
        "MILLISECOND" or "MILLISECONDS" => TimeSpan.FromMilliseconds(1),
        "SECOND" or "SECONDS" => TimeSpan.FromSeconds(1),
        "MINUTE" or "MINUTES" => TimeSpan.FromMinutes(1),
        "HOUR" or "HOURS" => TimeSpan.FromHours(1),
        "DAY" or "DAYS" => TimeSpan.FromDays(1),
        _ => null,
    };

    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd HH:mm:ss.FFFFFFF", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK", "yyyy-MM-dd",
    ];

    /// <summary>ISO-8601 text (with a space or T, with or without zone; no zone means UTC).</summary>
    public static DateTime? ParseTimestamp(string text) =>
        DateTime.TryParseExact(text.Trim(), TimestampFormats, CultureInfo.InvariantCulture,
            DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)
            ? DateTime.SpecifyKind(t, DateTimeKind.Utc)
            : null;

    public static DateTime FromUnixMs(long ms) => DateTime.UnixEpoch.AddMilliseconds(ms);

    public static long ToUnixMs(DateTime t) => (long)(t - DateTime.UnixEpoch).TotalMilliseconds;

    public static string FormatTimestamp(DateTime t) => t.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);

    public static bool IsNumeric(object? v) => v is long or double;

    public static double ToDouble(object v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        string s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new SqlRuntimeException($"'{s}' is not a number."),
        _ => throw new SqlRuntimeException($"{Describe(v)} is not a number."),
    };

    /// <summary>Converts to a column's kind; a value that does not convert is a run-time error for that row.</summary>
    public static object? Coerce(object? v, SqlKind kind)
    {
        if (v is null)
            return null;
        switch (kind)
        {
            case SqlKind.Varchar:
                return v switch
                {
                    string s => s,
                    DateTime t => FormatTimestamp(t),
                    bool b => b ? "TRUE" : "FALSE",
                    double d => d.ToString("R", CultureInfo.InvariantCulture),
                    _ => Convert.ToString(v, CultureInfo.InvariantCulture),
                };
            case SqlKind.Integer:
                return v switch
                {
                    // A value of the column's type is returned as it is (not boxed again).
                    long => v,
                    double d => (long)Math.Truncate(d),
                    bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => (long)Math.Truncate(d),
                    _ => throw new SqlRuntimeException($"{Describe(v)} is not an integer."),
                };
            case SqlKind.Double:
                return v is double ? v : ToDouble(v);
            case SqlKind.Boolean:
                return v switch
                {
                    bool => v,
                    string s when bool.TryParse(s.Trim(), out var b) => b,
                    long l => l != 0,
                    _ => throw new SqlRuntimeException($"{Describe(v)} is not a boolean."),
                };
            case SqlKind.Timestamp:
                return v switch
                {
                    DateTime => v,
                    long l => FromUnixMs(l),
                    double d => FromUnixMs((long)d),
                    string s => ParseTimestamp(s) ?? throw new SqlRuntimeException($"'{s}' is not a timestamp."),
                    _ => throw new SqlRuntimeException($"{Describe(v)} is not a timestamp."),
                };
            default:
                return v;
        }
    }

    /// <summary>SQL comparison; null when either side is null.</summary>
    public static int? Compare(object? a, object? b)
    {
        if (a is null || b is null)
            return null;
        if (a is long la && b is long lb)
            return la.CompareTo(lb);
        if (IsNumeric(a) && IsNumeric(b))
            return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string sa && b is string sb)
            return string.CompareOrdinal(sa, sb);
        if (a is DateTime ta && (b is DateTime || b is string))
            return ta.CompareTo((DateTime)Coerce(b, SqlKind.Timestamp)!);
        if (b is DateTime tb && a is string)
            return ((DateTime)Coerce(a, SqlKind.Timestamp)!).CompareTo(tb);
        if (a is bool ba && b is bool bb)
            return ba.CompareTo(bb);
        if (IsNumeric(a) && b is string)
            return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string && IsNumeric(b))
            return ToDouble(a).CompareTo(ToDouble(b));
        throw new SqlRuntimeException($"Cannot compare {Describe(a)} with {Describe(b)}.");
    }

    public static string Describe(object? v) => v switch
    {
        null => "NULL",
        string s => $"'{s}'",
        DateTime t => $"TIMESTAMP '{FormatTimestamp(t)}'",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "?",
    };
}

/// <summary>A row the code cannot evaluate (a value of the wrong kind); the row goes to the error stream.</summary>
public sealed class SqlRuntimeException(string message) : Exception(message);
