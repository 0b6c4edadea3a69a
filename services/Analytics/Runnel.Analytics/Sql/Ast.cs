namespace Runnel.Analytics.Sql;

/// <summary>The value kinds of the dialect. Values at run time are long, double, string, bool, DateTime (UTC) or null.</summary>
public enum SqlKind
{
    Varchar,
    Integer,
    Double,
    Boolean,
    Timestamp,
    Interval,
    Any,
}

/// <summary>A column of an in-application stream; ROWTIME is column 0 of every stream.</summary>
public sealed record SqlColumn(string Name, SqlKind Kind, string TypeText);

internal abstract class Expr(Token at)
{
    public Token At { get; } = at;
}

internal sealed class LiteralExpr(Token at, object? value) : Expr(at)
{
    public object? Value { get; } = value;
}

internal sealed class ColumnExpr(Token at, string? qualifier, string name) : Expr(at)
{
    public string? Qualifier { get; } = qualifier;
    public string Name { get; } = name;
    /// <summary>Set by binding: the position in the source row.</summary>
    public int Index { get; set; } = -1;
}

internal sealed class BinaryExpr(Token at, string op, Expr left, Expr right) : Expr(at)
{
    public string Op { get; } = op;
    public Expr Left { get; } = left;
    public Expr Right { get; } = right;
}

internal sealed class UnaryExpr(Token at, string op, Expr operand) : Expr(at)
{
    public string Op { get; } = op;
    public Expr Operand { get; } = operand;
}

/// <summary>A function call; aggregates get an AggregateIndex when bound in a grouped query.</summary>
internal sealed class CallExpr(Token at, string name, IReadOnlyList<Expr> args, bool star) : Expr(at)
{
    public string Name { get; } = name;
    public IReadOnlyList<Expr> Args { get; } = args;
    public bool Star { get; } = star;
    public int AggregateIndex { get; set; } = -1;
    /// <summary><c>COUNT(DISTINCT x)</c>: the aggregate takes each distinct non-null value once.</summary>
    public bool Distinct { get; set; }
    /// <summary>An inline sliding window: <c>OVER (PARTITION BY ... RANGE ... PRECEDING)</c>.</summary>
    public WindowSpec? Over { get; set; }
    /// <summary>A named sliding window: <c>OVER W1</c>, defined in the query's WINDOW clause.</summary>
    public string? OverName { get; set; }
    public Token? OverAt { get; set; }
}

/// <summary>
/// A window: PARTITION BY keys and either a time range (RANGE INTERVAL 'n' unit PRECEDING, over ROWTIME) or a row
/// count (ROWS n PRECEDING: the current row and n before it). Stagger windows use the range alone.
/// </summary>
internal sealed record WindowSpec(Token At, IReadOnlyList<Expr> PartitionBy, TimeSpan? Range, int? Rows);

/// <summary>FLOOR(x TO unit) and CEIL(x TO unit) on timestamps.</summary>
internal sealed class TruncateExpr(Token at, Expr value, string unit, bool ceiling) : Expr(at)
{
    public Expr Value { get; } = value;
    public string Unit { get; } = unit;
    public bool Ceiling { get; } = ceiling;
}

/// <summary>STEP(x BY INTERVAL 'n' unit): x rounded down to a multiple of the interval.</summary>
internal sealed class StepExpr(Token at, Expr value, TimeSpan width) : Expr(at)
{
    public Expr Value { get; } = value;
    public TimeSpan Width { get; } = width;
}

internal sealed class CastExpr(Token at, Expr value, SqlKind kind) : Expr(at)
{
    public Expr Value { get; } = value;
    public SqlKind Kind { get; } = kind;
}

internal sealed class CaseExpr(Token at, Expr? operand, IReadOnlyList<(Expr When, Expr Then)> whens, Expr? otherwise) : Expr(at)
{
    public Expr? Operand { get; } = operand;
    public IReadOnlyList<(Expr When, Expr Then)> Whens { get; } = whens;
    public Expr? Otherwise { get; } = otherwise;
}

internal sealed class IsNullExpr(Token at, Expr value, bool negated) : Expr(at)
{
    public Expr Value { get; } = value;
    public bool Negated { get; } = negated;
}

/// <summary>LIKE and SIMILAR TO, both with % and _ wildcards.</summary>
internal sealed class LikeExpr(Token at, Expr value, Expr pattern, bool negated) : Expr(at)
{
    public Expr Value { get; } = value;
    public Expr Pattern { get; } = pattern;
    public bool Negated { get; } = negated;
}

internal sealed class BetweenExpr(Token at, Expr value, Expr low, Expr high, bool negated) : Expr(at)
{
    public Expr Value { get; } = value;
    public Expr Low { get; } = low;
    public Expr High { get; } = high;
    public bool Negated { get; } = negated;
}

internal sealed class InExpr(Token at, Expr value, IReadOnlyList<Expr> items, bool negated) : Expr(at)
{
    public Expr Value { get; } = value;
    public IReadOnlyList<Expr> Items { get; } = items;
    public bool Negated { get; } = negated;
}

internal sealed record SelectItem(Expr? Value, string? Alias, Token At)
{
    public bool IsStar => Value is null;
}

internal sealed record SelectStatement(
    Token At,
    IReadOnlyList<SelectItem> Items,
    string From,
    string? Alias,
    Token FromAt,
    Expr? Where,
    IReadOnlyList<Expr> GroupBy,
    Expr? Having,
    IReadOnlyDictionary<string, WindowSpec> Windows,
    WindowSpec? Stagger,
    JoinClause? Join,
    TableFunctionCall? Function = null);

/// <summary>
/// <c>FROM TABLE(name(CURSOR(SELECT STREAM ...), arg, ...))</c>: a table function over the rows of the cursor's query;
/// the outer query reads the function's columns.
/// </summary>
internal sealed record TableFunctionCall(Token At, string Name, SelectStatement Cursor, IReadOnlyList<Expr> Args);

/// <summary>
/// <c>WATERMARK FOR col AS col [- INTERVAL 'd' unit] [ALLOWED LATENESS INTERVAL 'l' unit]</c>: event-time windows over
/// <c>col</c> close once the latest <c>col</c> seen (the smallest over the input's shards) minus the delay passes their
/// end, and keep taking rows for the lateness after that.
/// </summary>
internal sealed record WatermarkSpec(Token At, string Column, Token ColumnAt, TimeSpan Delay, TimeSpan Lateness);

/// <summary>A join of the FROM stream with a reference table; LEFT keeps stream rows without a match (table columns null).</summary>
internal sealed record JoinClause(Token At, string Table, Token TableAt, string? Alias, bool Left, Expr On);

internal abstract record Statement(Token At);

internal sealed record CreateStreamStatement(Token At, string Name, IReadOnlyList<SqlColumn> Columns, WatermarkSpec? Watermark = null) : Statement(At);

/// <summary><c>ALTER STREAM name ADD WATERMARK FOR ...</c>, the way to declare a watermark on an input stream.</summary>
internal sealed record AlterWatermarkStatement(Token At, string Stream, Token StreamAt, WatermarkSpec Watermark) : Statement(At);

internal sealed record CreatePumpStatement(Token At, string Name, string Target, Token TargetAt, IReadOnlyList<string>? TargetColumns, SelectStatement Select) : Statement(At);
