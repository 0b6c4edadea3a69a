using System.Globalization;
using System.Text;

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

    /// <summary>A closed window's group: its aggregates' results, filtered by HAVING, as one row with the given ROWTIME.</summary>
    protected void EmitGroup(WindowGroup group, IReadOnlyList<CallExpr> aggregates, Expr? having, DateTime rowtime, RowSink emit)
    {
        try
        {
            var results = new object?[aggregates.Count];
            for (var i = 0; i < results.Length; i++)
                results[i] = group.States[i].Result(aggregates[i].Name);
            if (having is null || Evaluator.IsTrue(having, group.Row, results))
                emit(Target.Name, Project(group.Row, results, rowtime));
        }
        catch (SqlRuntimeException e)
        {
            Fail(group.Row, e, emit);
        }
    }

    /// <summary>The group's identity: every GROUP BY or PARTITION BY value with its kind, so 1 and '1' are different groups.</summary>
    protected static string KeyOf(IReadOnlyList<Expr> keys, object?[] row)
    {
        var sb = new StringBuilder();
        foreach (var g in keys)
        {
            var v = Evaluator.Eval(g, row);
            sb.Append(v switch
            {
                null => "n",
                long l => "l" + l.ToString(CultureInfo.InvariantCulture),
                double d => "d" + d.ToString("R", CultureInfo.InvariantCulture),
                DateTime t => "t" + t.Ticks.ToString(CultureInfo.InvariantCulture),
                bool b => b ? "T" : "F",
                _ => "s" + v,
            });
            sb.Append('\u001f');
        }
        return sb.ToString();
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

/// <summary>
/// A tumbling-window aggregation (GROUP BY with STEP or FLOOR over a time). Windows are keyed by their start. The
/// watermark is the smallest, over the lanes (input shards) that are not idle, of the latest time seen in that lane;
/// it never goes back. A window closes, and its groups are emitted with ROWTIME = the window's end, once the
/// watermark reaches its end. A row whose window already closed is late: it changes nothing, is counted in LateRows
/// and reported in error_stream.
/// </summary>
internal sealed class WindowPump(
    string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where,
    IReadOnlyList<Expr> groupBy, Expr? having, IReadOnlyList<CallExpr> aggregates, Expr window, Expr time, TimeSpan width)
    : Pump(name, source, target, items, slots, where)
{
    private readonly bool _overRowtime = time is ColumnExpr { Index: 0 };

    public SortedDictionary<long, Dictionary<string, WindowGroup>> Windows { get; } = [];
    public Dictionary<int, LaneClock> Lanes { get; } = [];
    public DateTime Watermark { get; set; } = DateTime.MinValue;
    public long LateRows { get; set; }

    public int AggregateCount => aggregates.Count;

    public void SetLanes(IEnumerable<int> lanes)
    {
        foreach (var lane in lanes)
            Lanes.TryAdd(lane, new LaneClock());
    }

    public void SetIdle(int lane, bool idle)
    {
        if (Lanes.TryGetValue(lane, out var clock))
            clock.Idle = idle;
    }

    public override void Process(int lane, object?[] row, RowSink emit)
    {
        try
        {
            if (Where is not null && !Evaluator.IsTrue(Where, row))
                return;
            if (Values.Coerce(Evaluator.Eval(time, row), SqlKind.Timestamp) is not DateTime t
                || Evaluator.Eval(window, row) is not DateTime start)
            {
                Fail(row, new SqlRuntimeException("The window's time is NULL."), emit);
                return;
            }
            if (!Lanes.TryGetValue(lane, out var clock))
                Lanes[lane] = clock = new LaneClock();
            clock.Idle = false;
            if (t > clock.Max)
                clock.Max = t;
            if (start + width <= Watermark)
            {
                LateRows++;
                emit(ErrorStream.Name, ErrorStream.Row(ErrorStream.LateRow,
                    $"Row for the window [{Values.FormatTimestamp(start)}, {Values.FormatTimestamp(start + width)}) arrived after it closed (watermark {Values.FormatTimestamp(Watermark)}).",
                    row, Source, Name));
            }
            else
            {
                var key = KeyOf(groupBy, row);
                if (!Windows.TryGetValue(start.Ticks, out var groups))
                    Windows[start.Ticks] = groups = [];
                if (!groups.TryGetValue(key, out var group))
                {
                    var states = new AggregateState[aggregates.Count];
                    for (var i = 0; i < states.Length; i++)
                        states[i] = new AggregateState();
                    groups[key] = group = new WindowGroup(row, states);
                }
                for (var i = 0; i < aggregates.Count; i++)
                {
                    var call = aggregates[i];
                    group.States[i].Add(call.Name, call.Star ? null : Evaluator.Eval(call.Args[0], row), call.Star);
                }
            }
        }
        catch (SqlRuntimeException e)
        {
            Fail(row, e, emit);
            return;
        }
        Advance(emit);
    }

    public void AdvanceRowtime(DateTime rowtime, RowSink emit)
    {
        if (!_overRowtime || rowtime <= Watermark)
            return;
        Watermark = rowtime;
        Close(emit);
    }

    private void Advance(RowSink emit)
    {
        var low = DateTime.MaxValue;
        foreach (var clock in Lanes.Values)
        {
            if (!clock.Idle && clock.Max < low)
                low = clock.Max;
        }
        if (low == DateTime.MaxValue || low <= Watermark)
            return;
        Watermark = low;
        Close(emit);
    }

    private void Close(RowSink emit)
    {
        while (Windows.Count > 0)
        {
            var (startTicks, groups) = Windows.First();
            var end = new DateTime(startTicks, DateTimeKind.Utc) + width;
            if (end > Watermark)
                return;
            Windows.Remove(startTicks);
            foreach (var group in groups.Values)
                EmitGroup(group, aggregates, having, end, emit);
        }
    }
}
