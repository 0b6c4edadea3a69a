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

    public List<CallExpr> AggregateCalls { get; } = [];

    public HashSet<int> ColumnsOutsideAggregates { get; } = [];

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
