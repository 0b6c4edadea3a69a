namespace Runnel.Analytics.Sql;

/// <summary>The reference table of a join: its name, alias and the index of its first column in the joined row.</summary>
internal sealed record JoinedTable(string Name, string? Alias, int Offset);

/// <summary>
/// Resolves names of one SELECT against its FROM stream and checks the shape of a streaming query. With a join,
/// <paramref name="from"/> is the joined row (the stream's columns, then the table's from <see cref="JoinedTable.Offset"/>)
/// and a qualifier picks the side.
/// </summary>
internal sealed class Binder(StreamSchema from, string? alias, JoinedTable? table = null)
{
    /// <summary>A binder for another clause of the same query.</summary>
    public Binder Fork() => new(from, alias, table);

    /// <summary>A binder for GROUP BY, where group windows are allowed.</summary>
    public Binder ForkForGroupBy() => new(from, alias, table) { GroupWindowsAllowed = true };

    public List<CallExpr> AggregateCalls { get; } = [];

    public HashSet<int> ColumnsOutsideAggregates { get; } = [];

    /// <summary>Set on the GROUP BY binder: TUMBLE, HOP and SESSION may appear there and nowhere else.</summary>
    public bool GroupWindowsAllowed { get; init; }

    /// <summary>The group windows (TUMBLE, HOP, SESSION) bound, in GROUP BY order.</summary>
    public List<CallExpr> GroupWindows { get; } = [];

    /// <summary>The window bound calls bound (TUMBLE_START, HOP_END, ...).</summary>
    public List<CallExpr> WindowBounds { get; } = [];

    /// <summary>Flink's group windows and the functions that read their bounds, by name: the window each bound belongs to.</summary>
    public static readonly Dictionary<string, string> WindowFunctions = new(StringComparer.Ordinal)
    {
        ["TUMBLE"] = "TUMBLE", ["TUMBLE_START"] = "TUMBLE", ["TUMBLE_END"] = "TUMBLE",
        ["HOP"] = "HOP", ["HOP_START"] = "HOP", ["HOP_END"] = "HOP",
        ["SESSION"] = "SESSION", ["SESSION_START"] = "SESSION", ["SESSION_END"] = "SESSION",
    };

    public void Bind(Expr e, bool allowAggregates, bool insideAggregate = false)
    {
        switch (e)
        {
            case LiteralExpr:
                return;
            case ColumnExpr c:
                c.Index = Resolve(c);
                if (!insideAggregate)
                    ColumnsOutsideAggregates.Add(c.Index);
                return;
            case UnaryExpr u:
                Bind(u.Operand, allowAggregates, insideAggregate);
                return;
            case BinaryExpr b:
                Bind(b.Left, allowAggregates, insideAggregate);
                Bind(b.Right, allowAggregates, insideAggregate);
                return;
            case CallExpr call when WindowFunctions.TryGetValue(call.Name, out var family):
                BindWindowCall(call, family, allowAggregates, insideAggregate);
                return;
            case CallExpr call when call.Distinct && !Evaluator.Aggregates.Contains(call.Name):
                throw new SqlException(call.At.Line, call.At.Column, $"DISTINCT is only for aggregates, not {call.Name}.");
            case CallExpr call when Evaluator.Aggregates.Contains(call.Name):
                if (!allowAggregates)
                    throw new SqlException(call.At.Line, call.At.Column, $"Aggregate {call.Name} is not allowed here.");
                if (insideAggregate)
                    throw new SqlException(call.At.Line, call.At.Column, "Aggregates cannot be nested.");
                if (call.Star ? call.Name != "COUNT" : call.Args.Count != 1)
                    throw new SqlException(call.At.Line, call.At.Column, call.Star ? $"{call.Name}(*) is not valid; only COUNT(*) is." : $"{call.Name} takes one argument.");
                foreach (var a in call.Args)
                    Bind(a, allowAggregates, insideAggregate: true);
                call.AggregateIndex = AggregateCalls.Count;
                AggregateCalls.Add(call);
                return;
            case CallExpr call:
                if (!Evaluator.Scalars.Contains(call.Name))
                    throw new SqlException(call.At.Line, call.At.Column, $"Unknown function {call.Name}.");
                if (call.Star)
                    throw new SqlException(call.At.Line, call.At.Column, $"{call.Name}(*) is not valid.");
                var (min, max) = Arity(call.Name);
                if (call.Args.Count < min || call.Args.Count > max)
                    throw new SqlException(call.At.Line, call.At.Column, $"{call.Name} takes {(min == max ? min.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{min} to {max}")} argument{(max == 1 ? "" : "s")}, not {call.Args.Count}.");
                foreach (var a in call.Args)
                    Bind(a, allowAggregates, insideAggregate);
                return;
            case StepExpr s:
                Bind(s.Value, allowAggregates, insideAggregate);
                return;
            case TruncateExpr t:
                Bind(t.Value, allowAggregates, insideAggregate);
                return;
            case CastExpr c:
                Bind(c.Value, allowAggregates, insideAggregate);
                return;
            case CaseExpr c:
                if (c.Operand is not null)
                    Bind(c.Operand, allowAggregates, insideAggregate);
                foreach (var (when, then) in c.Whens)
                {
                    Bind(when, allowAggregates, insideAggregate);
                    Bind(then, allowAggregates, insideAggregate);
                }
                if (c.Otherwise is not null)
                    Bind(c.Otherwise, allowAggregates, insideAggregate);
                return;
            case IsNullExpr n:
                Bind(n.Value, allowAggregates, insideAggregate);
                return;
            case LikeExpr l:
                Bind(l.Value, allowAggregates, insideAggregate);
                Bind(l.Pattern, allowAggregates, insideAggregate);
                return;
            case BetweenExpr b:
                Bind(b.Value, allowAggregates, insideAggregate);
                Bind(b.Low, allowAggregates, insideAggregate);
                Bind(b.High, allowAggregates, insideAggregate);
                return;
            case InExpr i:
                Bind(i.Value, allowAggregates, insideAggregate);
                foreach (var item in i.Items)
                    Bind(item, allowAggregates, insideAggregate);
                return;
            default:
                throw new SqlException(e.At.Line, e.At.Column, "Unsupported expression.");
        }
    }

    /// <summary>
    /// TUMBLE(t, INTERVAL size), HOP(t, INTERVAL slide, INTERVAL size), SESSION(t, INTERVAL gap) and their _START/_END:
    /// the time is read by the window, not grouped, so it binds as if inside an aggregate.
    /// </summary>
    private void BindWindowCall(CallExpr call, string family, bool allowAggregates, bool insideAggregate)
    {
        var isWindow = call.Name == family;
        if (isWindow && !GroupWindowsAllowed)
            throw new SqlException(call.At.Line, call.At.Column, $"{call.Name} is a group window: it belongs in GROUP BY.");
        if (!isWindow && (!allowAggregates || insideAggregate))
            throw new SqlException(call.At.Line, call.At.Column, $"{call.Name} reads the bounds of a {family} window; use it in the select list or HAVING.");
        var arity = family == "HOP" ? 3 : 2;
        if (call.Star || call.Distinct || call.Args.Count != arity)
            throw new SqlException(call.At.Line, call.At.Column, family switch
            {
                "HOP" => $"{call.Name} takes (time, INTERVAL slide, INTERVAL size).",
                "SESSION" => $"{call.Name} takes (time, INTERVAL gap).",
                _ => $"{call.Name} takes (time, INTERVAL size).",
            });
        Bind(call.Args[0], allowAggregates: false, insideAggregate: true);
        if (call.Args[0] is not ColumnExpr time || from.Columns[time.Index].Kind != SqlKind.Timestamp)
            throw new SqlException(call.Args[0].At.Line, call.Args[0].At.Column, $"{call.Name}'s first argument is a TIMESTAMP column (ROWTIME or an event-time column).");
        foreach (var a in call.Args.Skip(1))
        {
            if (a is not LiteralExpr { Value: TimeSpan span } || span <= TimeSpan.Zero)
                throw new SqlException(a.At.Line, a.At.Column, $"{call.Name} takes positive intervals such as INTERVAL '1' MINUTE.");
        }
        (isWindow ? GroupWindows : WindowBounds).Add(call);
    }

    private int Resolve(ColumnExpr c)
    {
        var onTable = table is not null && (c.Qualifier == table.Name || c.Qualifier == table.Alias) && c.Qualifier is not null;
        if (c.Qualifier is not null && !onTable && c.Qualifier != from.Name && c.Qualifier != alias)
            throw new SqlException(c.At.Line, c.At.Column, $"Unknown stream or alias {c.Qualifier}; this query reads {from.Name}{(alias is null ? "" : $" as {alias}")}{(table is null ? "" : $" and {table.Name}{(table.Alias is null ? "" : $" as {table.Alias}")}")}.");
        var end = table?.Offset ?? from.Columns.Count;
        var inStream = c.Qualifier is null || !onTable ? from.IndexOf(c.Name, 0, end) : -1;
        var inTable = table is not null && (c.Qualifier is null || onTable) ? from.IndexOf(c.Name, end, from.Columns.Count) : -1;
        if (inStream >= 0 && inTable >= 0)
            throw new SqlException(c.At.Line, c.At.Column, $"Column {c.Name} is in both {from.Name} and {table!.Name}; qualify it.");
        if (inStream < 0 && inTable < 0)
            throw new SqlException(c.At.Line, c.At.Column, onTable
                ? $"Column {c.Name} not found in reference table {table!.Name}."
                : $"Column {c.Name} not found in stream {from.Name}{(table is null || c.Qualifier is not null ? "" : $" or reference table {table.Name}")}.");
        return Math.Max(inStream, inTable);
    }

    private static (int Min, int Max) Arity(string name) => name switch
    {
        "CURRENT_ROW_TIMESTAMP" or "CURRENT_TIMESTAMP" or "LOCALTIMESTAMP" => (0, 0),
        "SUBSTRING" => (2, 3),
        "ROUND" => (1, 2),
        "POWER" or "MOD" or "NULLIF" => (2, 2),
        "COALESCE" => (1, 64),
        _ => (1, 1),
    };

    /// <summary>The column name an unaliased select item gets: its column's name, else EXPR$n as in the SQL standard's engines.</summary>
    public static string NameOf(SelectItem item, int position) =>
        item.Alias ?? (item.Value is ColumnExpr c ? c.Name : $"EXPR${position}");
}
