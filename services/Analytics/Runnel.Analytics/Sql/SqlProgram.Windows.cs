namespace Runnel.Analytics.Sql;

/// <summary>Declared watermarks by stream: the event-time column's index and its declaration.</summary>
internal sealed class Watermarks() : Dictionary<string, (int Column, WatermarkSpec Spec)>(StringComparer.Ordinal);

/// <summary>Compilation of Flink-style group windows (TUMBLE, HOP, SESSION), watermark declarations and table functions.</summary>
public sealed partial class SqlProgram
{
    private static Watermarks DeclareWatermarks(List<Statement> statements, Dictionary<string, StreamSchema> streams)
    {
        var watermarks = new Watermarks();
        foreach (var statement in statements)
        {
            var (stream, streamAt, spec) = statement switch
            {
                CreateStreamStatement { Watermark: { } w } c => (c.Name, c.At, w),
                AlterWatermarkStatement a => (a.Stream, a.StreamAt, a.Watermark),
                _ => ("", default(Token), null),
            };
            if (spec is null)
                continue;
            if (!streams.TryGetValue(stream, out var schema))
                throw new SqlException(streamAt.Line, streamAt.Column, $"Stream {stream} does not exist.");
            if (watermarks.ContainsKey(stream))
                throw new SqlException(spec.At.Line, spec.At.Column, $"Stream {stream} already has a watermark.");
            var index = schema.IndexOf(spec.Column);
            if (index < 0)
                throw new SqlException(spec.ColumnAt.Line, spec.ColumnAt.Column, $"Column {spec.Column} not found in stream {stream}.");
            if (index == 0)
                throw new SqlException(spec.ColumnAt.Line, spec.ColumnAt.Column, "ROWTIME is the arrival time, whose windows close as time passes; declare the watermark on an event-time column.");
            if (schema.Columns[index].Kind != SqlKind.Timestamp)
                throw new SqlException(spec.ColumnAt.Line, spec.ColumnAt.Column, $"The watermark's column {spec.Column} is {schema.Columns[index].TypeText}, not a TIMESTAMP.");
            watermarks[stream] = (index, spec);
        }
        return watermarks;
    }

    /// <summary>The declared delay and lateness when the window's time is the stream's watermark column; else none.</summary>
    private static EventTime EventTimeOf(Watermarks watermarks, StreamSchema from, Expr time) =>
        time is ColumnExpr c && watermarks.TryGetValue(from.Name, out var w) && w.Column == c.Index
            ? new EventTime(w.Spec.Delay, w.Spec.Lateness)
            : default;

    private static Pump CompileGroupWindow(CreatePumpStatement p, SelectStatement select, StreamSchema from, StreamSchema target, Binder binder,
        List<CallExpr> windows, List<Expr> items, int[] slots, Watermarks watermarks)
    {
        var window = windows[0];
        if (windows.Count > 1)
            throw new SqlException(windows[1].At.Line, windows[1].At.Column, "A query groups by one window.");
        if (!select.GroupBy.Any(g => ReferenceEquals(g, window)))
            throw new SqlException(window.At.Line, window.At.Column, $"{window.Name}(...) is a GROUP BY item of its own, not part of an expression.");
        var time = (ColumnExpr)window.Args[0];
        var spans = window.Args.Skip(1).Select(a => (TimeSpan)((LiteralExpr)a).Value!).ToArray();
        foreach (var bound in binder.WindowBounds)
        {
            if (Binder.WindowFunctions[bound.Name] != window.Name || ((ColumnExpr)bound.Args[0]).Index != time.Index
                || !bound.Args.Skip(1).Select(a => (TimeSpan)((LiteralExpr)a).Value!).SequenceEqual(spans))
                throw new SqlException(bound.At.Line, bound.At.Column, $"{bound.Name} must repeat the GROUP BY window, {window.Name}({time.Name}, ...) with the same intervals.");
        }
        var keys = select.GroupBy.Where(g => !ReferenceEquals(g, window)).ToList();
        var eventTime = EventTimeOf(watermarks, from, time);
        if (window.Name == "SESSION")
            return new SessionPump(p.Name, from, target, items, slots, select.Where, keys, select.Having, binder.AggregateCalls, time, spans[0], eventTime);
        var (slide, size) = window.Name == "HOP" ? (spans[0], spans[1]) : (spans[0], spans[0]);
        // Each row goes into size / slide windows; the bound keeps one row's work small.
        if (size.Ticks / slide.Ticks > 1000)
            throw new SqlException(window.At.Line, window.At.Column, "HOP puts each row in size / slide windows; keep that at 1000 or fewer.");
        return new WindowPump(p.Name, from, target, items, slots, select.Where, keys, select.Having, binder.AggregateCalls, null, time, size, slide, eventTime)
        {
            GroupWindow = true,
        };
    }

    /// <summary>
    /// TOP_K_ITEMS_TUMBLING(CURSOR(...), 'column', K, windowSize) and COUNT_DISTINCT_ITEMS_TUMBLING(CURSOR(...), 'column',
    /// windowSize): the cursor's query feeds a tumbling window over ROWTIME of windowSize seconds, which emits, when it
    /// closes, the K values seen most often with their counts (MOST_FREQUENT_VALUES), or the number of distinct values
    /// (NUMBER_OF_DISTINCT_ITEMS). Counts are exact. The outer query projects and filters the function's rows.
    /// </summary>
    private static IEnumerable<Pump> CompileTableFunction(CreatePumpStatement p, TableFunctionCall function, Dictionary<string, StreamSchema> streams,
        Dictionary<string, ReferenceTable> tables, Watermarks watermarks)
    {
        var select = p.Select;
        var at = function.At;
        var topK = function.Name == "TOP_K_ITEMS_TUMBLING";
        if (!topK && function.Name != "COUNT_DISTINCT_ITEMS_TUMBLING")
            throw new SqlException(at.Line, at.Column, $"Table function {function.Name} is not supported; TOP_K_ITEMS_TUMBLING and COUNT_DISTINCT_ITEMS_TUMBLING are.");
        if (select.Join is not null)
            throw new SqlException(select.Join.At.Line, select.Join.At.Column, "A table function's rows cannot be joined; join in the CURSOR's query.");
        if (function.Args.Count != (topK ? 3 : 2))
            throw new SqlException(at.Line, at.Column, topK
                ? "TOP_K_ITEMS_TUMBLING takes (CURSOR(SELECT STREAM ...), 'columnName', K, windowSize)."
                : "COUNT_DISTINCT_ITEMS_TUMBLING takes (CURSOR(SELECT STREAM ...), 'columnName', windowSize).");
        if (function.Args[0] is not LiteralExpr { Value: string column })
            throw new SqlException(function.Args[0].At.Line, function.Args[0].At.Column, "The column's name is a string in single quotes, such as 'TICKER_SYMBOL'.");
        var k = topK ? Positive(function.Args[1], "K", 100_000) : 0;
        var seconds = Positive(function.Args[^1], "The window size in seconds", 86_400);

        // The cursor's rows form a stream of their own, named after the pump and never visible to code.
        var cursor = function.Cursor;
        if (cursor.Function is not null)
            throw new SqlException(cursor.FromAt.Line, cursor.FromAt.Column, "A CURSOR reads an in-application stream, not another table function.");
        streams.TryGetValue(cursor.From, out var cursorFrom);
        var columns = new List<SqlColumn>();
        for (var i = 0; i < cursor.Items.Count; i++)
        {
            var item = cursor.Items[i];
            if (item.IsStar)
            {
                columns.AddRange(cursorFrom?.Visible ?? []);
                continue;
            }
            var name = Binder.NameOf(item, i);
            var source = item.Value is ColumnExpr c && cursorFrom?.IndexOf(c.Name) is >= 0 and var index ? cursorFrom.Columns[index] : null;
            columns.Add(source is null ? new SqlColumn(name, SqlKind.Any, "ANY") : source with { Name = name });
        }
        var cursorStream = new StreamSchema($"{p.Name}$CURSOR", columns, isSource: false);
        var local = new Dictionary<string, StreamSchema>(streams) { [cursorStream.Name] = cursorStream };
        var cursorPump = CompilePump(new CreatePumpStatement(at, p.Name, cursorStream.Name, at, null, cursor), local, tables, watermarks).Single();
        if (cursorPump.Stages.Any(s => s is not (ProjectPump or JoinPump)))
            throw new SqlException(cursor.At.Line, cursor.At.Column, "A CURSOR's query filters and projects rows; it cannot aggregate.");
        var valueIndex = cursorStream.IndexOf(column);
        if (valueIndex < cursorStream.Hidden)
            throw new SqlException(function.Args[0].At.Line, function.Args[0].At.Column,
                $"Column {column} not found in the CURSOR's columns ({string.Join(", ", cursorStream.Visible.Select(c => c.Name))}).");

        var rowtime = new ColumnExpr(at, null, StreamSchema.RowTime) { Index = 0 };
        var value = new ColumnExpr(at, null, cursorStream.Columns[valueIndex].Name) { Index = valueIndex };
        var width = TimeSpan.FromSeconds(seconds);
        var step = new StepExpr(at, rowtime, width);
        var outputName = $"{p.Name}${function.Name}";
        StreamSchema output;
        WindowPump stage;
        if (topK)
        {
            output = new StreamSchema(outputName, [cursorStream.Columns[valueIndex], new SqlColumn("MOST_FREQUENT_VALUES", SqlKind.Integer, "BIGINT")], isSource: false);
            var count = new CallExpr(at, "COUNT", [], star: true) { AggregateIndex = 0 };
            stage = new WindowPump(p.Name, cursorStream, output, [value, count], [1, 2], new IsNullExpr(at, value, negated: true), [value, step], null,
                [count], step, rowtime, width, width, default) { TopK = (int)k };
        }
        else
        {
            output = new StreamSchema(outputName, [new SqlColumn("NUMBER_OF_DISTINCT_ITEMS", SqlKind.Integer, "BIGINT")], isSource: false);
            var distinct = new CallExpr(at, "COUNT", [value], star: false) { AggregateIndex = 0, Distinct = true };
            stage = new WindowPump(p.Name, cursorStream, output, [distinct], [1], null, [step], null, [distinct], step, rowtime, width, width, default);
        }
        var outerStreams = new Dictionary<string, StreamSchema>(streams) { [output.Name] = output };
        var outer = CompileQuery(p, select, output, outerStreams, new Binder(output, select.Alias ?? function.Name), watermarks);
        if (outer is not ProjectPump)
            throw new SqlException(select.At.Line, select.At.Column, "A query over a table function selects and filters its rows; aggregate them in a following pump.");
        return [new ChainPump(cursorPump, stage), outer];
    }

    private static long Positive(Expr e, string what, long max) =>
        e is LiteralExpr { Value: long n } && n >= 1 && n <= max
            ? n
            : throw new SqlException(e.At.Line, e.At.Column, $"{what} is a whole number from 1 to {max}.");
}

/// <summary>
/// A table function's pump: the CURSOR's query hands its rows straight to the function's window pump, so each row
/// keeps its lane (input shard) for the watermark. The window pump's rows go on to the outer query's pump.
/// </summary>
internal sealed class ChainPump(Pump cursor, EventTimePump function) : Pump(function.Name, cursor.Source, function.Target, [], [], null)
{
    public override IEnumerable<Pump> Stages => [this, .. cursor.Stages, function];

    public override void Process(int lane, object?[] row, RowSink emit) =>
        cursor.Process(lane, row, (stream, r) =>
        {
            if (stream == function.Source.Name)
                function.Process(lane, r, emit);
            else
                emit(stream, r);
        });
}
