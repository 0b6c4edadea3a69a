namespace Runnel.Analytics.Sql;

/// <summary>Application code that does not parse or bind; Line and Column are 1-based and point at the offending token.</summary>
public sealed class SqlException(int line, int column, string reason)
    : Exception($"SQL error at line {line}, column {column}: {reason}")
{
    public int Line { get; } = line;
    public int Column { get; } = column;
    public string Reason { get; } = reason;
}
