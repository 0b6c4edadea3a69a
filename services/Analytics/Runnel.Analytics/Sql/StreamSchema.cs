namespace Runnel.Analytics.Sql;

/// <summary>
/// An in-application stream's columns. Column 0 is ROWTIME; <see cref="Hidden"/> columns (ROWTIME and, on a source
/// stream, APPROXIMATE_ARRIVAL_TIME) are readable by name but not part of <c>SELECT *</c>.
/// </summary>
public sealed class StreamSchema
{
    public const string RowTime = "ROWTIME";
    public const string ArrivalTime = "APPROXIMATE_ARRIVAL_TIME";

    public StreamSchema(string name, IEnumerable<SqlColumn> declared, bool isSource)
    {
        Name = name;
        IsSource = isSource;
        var columns = new List<SqlColumn> { new(RowTime, SqlKind.Timestamp, "TIMESTAMP") };
        if (isSource)
            columns.Add(new SqlColumn(ArrivalTime, SqlKind.Timestamp, "TIMESTAMP"));
        columns.AddRange(declared);
        Columns = columns;
        Hidden = isSource ? 2 : 1;
    }

    public string Name { get; }

    public bool IsSource { get; }

    /// <summary>Every column, ROWTIME first.</summary>
    public IReadOnlyList<SqlColumn> Columns { get; }

    /// <summary>How many leading columns are hidden from <c>SELECT *</c>.</summary>
    public int Hidden { get; }

    public IEnumerable<SqlColumn> Visible => Columns.Skip(Hidden);

    public int IndexOf(string name) => IndexOf(name, 0, Columns.Count);

    /// <summary>The index of a column among <c>[start, end)</c>, or -1.</summary>
    public int IndexOf(string name, int start, int end)
    {
        for (var i = start; i < end; i++)
        {
            if (Columns[i].Name == name)
                return i;
        }
        // Unquoted names fold to upper case, so a quoted lower-case name in the schema still matches its folded form.
        for (var i = start; i < end; i++)
        {
            if (string.Equals(Columns[i].Name, name, StringComparison.OrdinalIgnoreCase))
                return i;
        }
        return -1;
    }
}

/// <summary>An in-application reference table, loaded from an S3 object: its columns (no ROWTIME).</summary>
public sealed record ReferenceTableSchema(string Name, IReadOnlyList<SqlColumn> Columns);
