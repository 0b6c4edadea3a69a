using System.Globalization;

namespace Runnel.Analytics.Sql;

internal abstract class Pump(string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where)
{
    public string Name { get; } = name;
    public StreamSchema Source { get; } = source;
    public StreamSchema Target { get; } = target;
    protected IReadOnlyList<Expr> Items { get; } = items;
    protected int[] Slots { get; } = slots;
    protected Expr? Where { get; } = where;
    public long ErrorRows { get; protected set; }

    /// <summary>Counts a row the pump could not evaluate and reports it in <c>error_stream</c>.</summary>
    protected void Fail(object?[] row, SqlRuntimeException e, RowSink emit)
    {
        ErrorRows++;
        emit(ErrorStream.Name, ErrorStream.Row(ErrorStream.EvaluationError, e.Message, row, Source, Name));
    }

    public abstract void Process(int lane, object?[] row, RowSink emit);

    /// <summary>This pump and the pumps it runs inside (a join's query, a table function's stages).</summary>
    public virtual IEnumerable<Pump> Stages => [this];

    /// <summary>Builds the target row: ROWTIME, then every select item converted to its column's type.</summary>
    protected object?[] Project(object?[] row, object?[]? aggregates, DateTime rowtime)
    {
        var output = new object?[Target.Columns.Count];
        output[0] = rowtime;
        for (var i = 0; i < Items.Count; i++)
        {
            var item = Items[i];
            // A bare ROWTIME of a grouped query is the window's end, the output row's own ROWTIME.
            var value = aggregates is not null && item is ColumnExpr { Index: 0 } ? rowtime : Evaluator.Eval(item, row, aggregates);
            output[Slots[i]] = Values.Coerce(value, Target.Columns[Slots[i]].Kind);
        }
        return output;
    }

    /// <summary>
    /// A closed window's group: its aggregates' results, filtered by HAVING, as one row with ROWTIME = the window's end.
    /// The results end with the window's start and end, which TUMBLE_START, HOP_END etc. read.
    /// </summary>
    protected void EmitGroup(WindowGroup group, IReadOnlyList<CallExpr> aggregates, Expr? having, DateTime rowtime, RowSink emit, DateTime? start = null)
    {
        try
        {
            var results = new object?[aggregates.Count + 2];
            for (var i = 0; i < aggregates.Count; i++)
                results[i] = group.States[i].Result(aggregates[i].Name);
            results[^2] = start;
            results[^1] = rowtime;
            if (having is null || Evaluator.IsTrue(having, group.Row, results))
                emit(Target.Name, Project(group.Row, results, rowtime));
        }
        catch (SqlRuntimeException e)
        {
            Fail(group.Row, e, emit);
        }
    }

    private char[] _key = new char[64];
    private int _keyLength;

    /// <summary>The group's identity: every GROUP BY or PARTITION BY value with its kind, so 1 and '1' are different groups.</summary>
    protected string KeyOf(IReadOnlyList<Expr> keys, object?[] row) => KeySpan(keys, row).ToString();

    /// <summary>
    /// <see cref="KeyOf"/> written into a buffer the pump reuses (valid until its next call), for lookups that allocate
    /// only when a group is new.
    /// </summary>
    protected ReadOnlySpan<char> KeySpan(IReadOnlyList<Expr> keys, object?[] row)
    {
        _keyLength = 0;
        for (var i = 0; i < keys.Count; i++)
        {
            var v = Evaluator.Eval(keys[i], row);
            switch (v)
            {
                case null:
                    Append("n");
                    break;
                case long l:
                    Append("l");
                    AppendFormatted(l, default);
                    break;
                case double d:
                    Append("d");
                    AppendFormatted(d, "R");
                    break;
                case DateTime t:
                    Append("t");
                    AppendFormatted(t.Ticks, default);
                    break;
                case bool b:
                    Append(b ? "T" : "F");
                    break;
                case string s:
                    Append("s");
                    Append(s);
                    break;
                default:
                    Append("s");
                    Append(v.ToString());
                    break;
            }
            Append("\u001f");
        }
        return _key.AsSpan(0, _keyLength);
    }

    private void Append(ReadOnlySpan<char> text)
    {
        Reserve(text.Length);
        text.CopyTo(_key.AsSpan(_keyLength));
        _keyLength += text.Length;
    }

    private void AppendFormatted<T>(T value, ReadOnlySpan<char> format) where T : ISpanFormattable
    {
        int written;
        while (!value.TryFormat(_key.AsSpan(_keyLength), out written, format, CultureInfo.InvariantCulture))
            Reserve(_key.Length);
        _keyLength += written;
    }

    private void Reserve(int more)
    {
        if (_keyLength + more > _key.Length)
            Array.Resize(ref _key, Math.Max(_key.Length * 2, _keyLength + more));
    }
}

/// <summary>A continuous filter and projection: one output row per input row that passes WHERE, with its ROWTIME.</summary>
internal sealed class ProjectPump(string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where)
    : Pump(name, source, target, items, slots, where)
{
    public override void Process(int lane, object?[] row, RowSink emit)
    {
        try
        {
            if (Where is not null && !Evaluator.IsTrue(Where, row))
                return;
            emit(Target.Name, Project(row, null, (DateTime)row[0]!));
        }
        catch (SqlRuntimeException e)
        {
            Fail(row, e, emit);
        }
    }
}

/// <summary>One group of one window: a representative row (its group-by values are the group's) and the aggregates.</summary>
internal sealed class WindowGroup(object?[] row, AggregateState[] states)
{
    public object?[] Row { get; } = row;
    public AggregateState[] States { get; } = states;
}

internal sealed class LaneClock
{
    public DateTime Max = DateTime.MinValue;
    public bool Idle;
}
