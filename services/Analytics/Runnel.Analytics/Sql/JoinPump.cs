namespace Runnel.Analytics.Sql;

/// <summary>A reference table's schema and its current rows (values in column order), replaced whole on reload.</summary>
internal sealed class ReferenceTable(ReferenceTableSchema schema)
{
    public ReferenceTableSchema Schema { get; } = schema;

    public IReadOnlyList<object?[]> Rows { get; set; } = [];
}

/// <summary>
/// A stream joined with a reference table: each stream row is paired with every table row for which ON is true, and
/// each pair (the stream row's values followed by the table row's) goes to the inner pump, which runs the rest of the
/// query (WHERE, projection, windows) over it. LEFT also passes a stream row without a match, with the table's
/// columns null. The inner pump keeps the query's state; the join keeps none.
/// </summary>
internal sealed class JoinPump(string name, StreamSchema source, Pump inner, ReferenceTable table, Expr on, bool left)
    : Pump(name, source, inner.Target, [], [], null)
{
    public Pump Inner { get; } = inner;

    public override IEnumerable<Pump> Stages => [this, .. Inner.Stages];

    public override void Process(int lane, object?[] row, RowSink emit)
    {
        var width = table.Schema.Columns.Count;
        var matched = false;
        foreach (var tableRow in table.Rows)
        {
            var joined = Join(row, tableRow, width);
            bool match;
            try
            {
                match = Evaluator.IsTrue(on, joined);
            }
            catch (SqlRuntimeException)
            {
                ErrorRows++;
                continue;
            }
            if (!match)
                continue;
            matched = true;
            Inner.Process(lane, joined, emit);
        }
        if (left && !matched)
            Inner.Process(lane, Join(row, null, width), emit);
    }

    private static object?[] Join(object?[] row, object?[]? tableRow, int width)
    {
        var joined = new object?[row.Length + width];
        Array.Copy(row, joined, row.Length);
        if (tableRow is not null)
            Array.Copy(tableRow, 0, joined, row.Length, width);
        return joined;
    }
}
