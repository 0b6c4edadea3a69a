namespace Runnel.Analytics.Sql;

/// <summary>A row emitted into an in-application stream: values in the stream's column order, ROWTIME first.</summary>
public delegate void RowSink(string stream, object?[] row);

/// <summary>
/// Compiled application code: its in-application streams and the pumps between them. Rows of the source streams go in
/// through <see cref="Insert"/>; every row any pump writes is handed to <see cref="Emitted"/> (the runner forwards the
/// rows of streams that have an output) and to the pumps that read that stream. Not thread-safe: one runner feeds it.
/// </summary>
public sealed partial class SqlProgram
{
    private readonly Dictionary<string, StreamSchema> _streams;
    private readonly Dictionary<string, List<Pump>> _readers;
    private readonly List<Pump> _pumps;

    private readonly Dictionary<string, ReferenceTable> _tables;

    /// <summary><see cref="Emit"/> as one delegate, so feeding a row allocates none.</summary>
    private readonly RowSink _emit;

    private static readonly List<Pump> NoReaders = [];

    private SqlProgram(Dictionary<string, StreamSchema> streams, List<Pump> pumps, Dictionary<string, ReferenceTable> tables)
    {
        _emit = Emit;
        _streams = streams;
        _pumps = pumps;
        _tables = tables;
        _readers = pumps.GroupBy(p => p.Source.Name).ToDictionary(g => g.Key, g => g.ToList());
    }

    /// <summary>The pumps that hold state (window pumps, wherever they run: inside a join or a table function).</summary>
    private IEnumerable<Pump> Inner => _pumps.SelectMany(p => p.Stages).Where(p => p is EventTimePump or SlidingPump or StaggerPump);

    /// <summary>
    /// Replaces the rows of a reference table (values in the table's column order). Pumps that join it see the new
    /// rows from the next stream row on.
    /// </summary>
    public void SetReferenceRows(string table, IEnumerable<object?[]> rows)
    {
        if (!_tables.TryGetValue(table, out var t))
            throw new ArgumentException($"Reference table {table} is not defined.", nameof(table));
        t.Rows = [.. rows];
    }

    public IReadOnlyDictionary<string, StreamSchema> Streams => _streams;

    public RowSink? Emitted { get; set; }

    /// <summary>Rows that arrived for a window that had already closed (dropped).</summary>
    public long LateRows => Inner.OfType<EventTimePump>().Sum(p => p.LateRows);

    /// <summary>Rows a pump could not evaluate (a value of the wrong kind), skipped.</summary>
    public long ErrorRows => _pumps.SelectMany(p => p.Stages).Sum(p => p.ErrorRows);

    /// <summary>
    /// Parses and binds <paramref name="code"/> over the given source streams. Throws <see cref="SqlException"/> with the
    /// line and column of the first problem.
    /// </summary>
    public static SqlProgram Compile(string code, IEnumerable<StreamSchema> sources, IEnumerable<ReferenceTableSchema>? tables = null)
    {
        var statements = Parser.ParseScript(code);
        var streams = sources.ToDictionary(s => s.Name, StringComparer.Ordinal);
        var referenceTables = (tables ?? []).ToDictionary(t => t.Name, t => new ReferenceTable(t), StringComparer.Ordinal);
        foreach (var s in statements.OfType<CreateStreamStatement>())
        {
            if (streams.TryGetValue(s.Name, out var existing) && existing.IsSource)
                throw new SqlException(s.At.Line, s.At.Column, $"Stream {s.Name} is the application's input stream and cannot be redefined.");
            if (referenceTables.ContainsKey(s.Name))
                throw new SqlException(s.At.Line, s.At.Column, $"{s.Name} is a reference table and cannot be redefined as a stream.");
            if (ErrorStream.IsNamed(s.Name))
                throw new SqlException(s.At.Line, s.At.Column, $"{s.Name} is the application's error stream and cannot be redefined.");
            streams[s.Name] = new StreamSchema(s.Name, s.Columns, isSource: false);
        }
        var watermarks = DeclareWatermarks(statements, streams);
        streams[ErrorStream.Name] = ErrorStream.Schema();
        var pumps = new List<Pump>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in statements.OfType<CreatePumpStatement>())
        {
            if (!names.Add(p.Name))
                throw new SqlException(p.At.Line, p.At.Column, $"Pump {p.Name} is defined twice.");
            pumps.AddRange(CompilePump(p, streams, referenceTables, watermarks));
        }
        return new SqlProgram(streams, pumps, referenceTables);
    }

    /// <summary>
    /// A pump over its FROM stream; with a JOIN, the query is compiled over the joined row (the stream's columns, then
    /// the table's) and wrapped in a <see cref="JoinPump"/> that makes those rows.
    /// </summary>
    private static IEnumerable<Pump> CompilePump(CreatePumpStatement p, Dictionary<string, StreamSchema> streams, Dictionary<string, ReferenceTable> tables,
        Watermarks watermarks)
    {
        var select = p.Select;
        if (select.Function is { } function)
            return CompileTableFunction(p, function, streams, tables, watermarks);
        if (ErrorStream.IsNamed(select.From))
            throw new SqlException(select.FromAt.Line, select.FromAt.Column, "error_stream cannot be read by the application's code; an output named error_stream delivers it.");
        if (ErrorStream.IsNamed(p.Target))
            throw new SqlException(p.TargetAt.Line, p.TargetAt.Column, "Pumps cannot write to error_stream; rows a pump cannot evaluate go there.");
        if (!streams.TryGetValue(select.From, out var stream))
        {
            var hint = tables.ContainsKey(select.From) ? "; it is a reference table, which a query JOINs to a stream" : "";
            throw new SqlException(select.FromAt.Line, select.FromAt.Column, $"Stream {select.From} does not exist{hint}.");
        }
        if (select.Join is not { } join)
            return [CompileQuery(p, select, stream, streams, new Binder(stream, select.Alias), watermarks)];
        if (!tables.TryGetValue(join.Table, out var table))
            throw new SqlException(join.TableAt.Line, join.TableAt.Column, $"Reference table {join.Table} does not exist; add it with AddApplicationReferenceDataSource.");
        var joined = new StreamSchema(stream.Name, stream.Visible.Concat(table.Schema.Columns), stream.IsSource);
        var binder = new Binder(joined, select.Alias, new JoinedTable(table.Schema.Name, join.Alias, stream.Columns.Count));
        binder.Fork().Bind(join.On, allowAggregates: false);
        var inner = CompileQuery(p, select, joined, streams, binder, watermarks);
        return [new JoinPump(p.Name, stream, inner, table, join.On, join.Left)];
    }

    private static Pump CompileQuery(CreatePumpStatement p, SelectStatement select, StreamSchema from, Dictionary<string, StreamSchema> streams, Binder binder,
        Watermarks watermarks)
    {
        var pump = CompileQueryCore(p, select, from, streams, binder, watermarks);
        if (binder.WindowBounds.Count > 0 && pump is not (SessionPump or WindowPump { GroupWindow: true }))
        {
            var call = binder.WindowBounds[0];
            throw new SqlException(call.At.Line, call.At.Column, $"{call.Name} needs GROUP BY {Binder.WindowFunctions[call.Name]}(...).");
        }
        return pump;
    }

    private static Pump CompileQueryCore(CreatePumpStatement p, SelectStatement select, StreamSchema from, Dictionary<string, StreamSchema> streams, Binder binder,
        Watermarks watermarks)
    {
        if (!streams.TryGetValue(p.Target, out var target))
            throw new SqlException(p.TargetAt.Line, p.TargetAt.Column, $"Stream {p.Target} does not exist; create it with CREATE OR REPLACE STREAM.");
        if (target.IsSource)
            throw new SqlException(p.TargetAt.Line, p.TargetAt.Column, $"Stream {p.Target} is an input stream; pumps cannot write to it.");
        if (target.Name == from.Name)
            throw new SqlException(p.TargetAt.Line, p.TargetAt.Column, $"Pump {p.Name} reads and writes {p.Target}.");

        var items = new List<Expr>();
        foreach (var item in select.Items)
        {
            if (item.IsStar)
            {
                for (var i = from.Hidden; i < from.Columns.Count; i++)
                    items.Add(new ColumnExpr(item.At, null, from.Columns[i].Name) { Index = i });
                continue;
            }
            binder.Bind(item.Value!, allowAggregates: true);
            items.Add(item.Value!);
        }
        if (select.Where is not null)
            binder.Bind(select.Where, allowAggregates: false);

        // Which target column each select item fills.
        int[] slots;
        if (p.TargetColumns is { } listed)
        {
            slots = new int[listed.Count];
            for (var i = 0; i < listed.Count; i++)
            {
                slots[i] = target.IndexOf(listed[i]);
                if (slots[i] < target.Hidden)
                    throw new SqlException(p.TargetAt.Line, p.TargetAt.Column, $"Column {listed[i]} not found in stream {target.Name}.");
            }
        }
        else
        {
            slots = Enumerable.Range(target.Hidden, target.Columns.Count - target.Hidden).ToArray();
        }
        if (slots.Length != items.Count)
            throw new SqlException(select.At.Line, select.At.Column,
                $"The query selects {items.Count} column{(items.Count == 1 ? "" : "s")} but {target.Name} takes {slots.Length}.");

        var sliding = binder.AggregateCalls.Where(c => c.Over is not null || c.OverName is not null).ToList();
        if (sliding.Count > 0 || select.Windows.Count > 0)
            return CompileSliding(p, select, from, target, binder, items, slots);

        var grouped = select.GroupBy.Count > 0 || binder.AggregateCalls.Count > 0 || select.Stagger is not null;
        if (!grouped)
        {
            if (select.Having is not null)
                throw new SqlException(select.Having.At.Line, select.Having.At.Column, "HAVING needs GROUP BY.");
            return new ProjectPump(p.Name, from, target, items, slots, select.Where);
        }

        var keys = select.Stagger?.PartitionBy ?? select.GroupBy;
        var groupBinder = select.Stagger is null ? binder.ForkForGroupBy() : binder.Fork();
        foreach (var g in keys)
            groupBinder.Bind(g, allowAggregates: false);
        if (select.Having is not null)
            binder.Bind(select.Having, allowAggregates: true);
        var grouping = groupBinder.ColumnsOutsideAggregates;
        foreach (var index in binder.ColumnsOutsideAggregates)
        {
            // ROWTIME outside an aggregate stands for the window's end, which every row of a group shares.
            if (index != 0 && !grouping.Contains(index))
            {
                var at = FindColumn(select, index) ?? select.At;
                throw new SqlException(at.Line, at.Column,
                    $"Column {from.Columns[index].Name} must appear in {(select.Stagger is null ? "GROUP BY" : "the stagger window's PARTITION BY")} or inside an aggregate.");
            }
        }
        if (select.Stagger is { } stagger)
        {
            if (stagger.PartitionBy.Count == 0)
                throw new SqlException(stagger.At.Line, stagger.At.Column, "A stagger window needs PARTITION BY: its windows open per partition key.");
            return new StaggerPump(p.Name, from, target, items, slots, select.Where, stagger.PartitionBy, select.Having,
                binder.AggregateCalls, stagger.Range!.Value);
        }
        if (groupBinder.GroupWindows.Count > 0)
            return CompileGroupWindow(p, select, from, target, binder, groupBinder.GroupWindows, items, slots, watermarks);
        var window = select.GroupBy.FirstOrDefault(g => g is StepExpr or TruncateExpr)
            ?? throw new SqlException(select.At.Line, select.At.Column,
                "A streaming GROUP BY needs a window: group by STEP(<stream>.ROWTIME BY INTERVAL 'n' SECOND) or FLOOR(<stream>.ROWTIME TO MINUTE).");
        var (time, width) = window switch
        {
            StepExpr s => (s.Value, s.Width),
            TruncateExpr t when !t.Ceiling => (t.Value, Values.UnitLength(t.Unit)!.Value),
            _ => throw new SqlException(window.At.Line, window.At.Column, "A window is STEP(... BY INTERVAL ...) or FLOOR(... TO unit)."),
        };
        return new WindowPump(p.Name, from, target, items, slots, select.Where, select.GroupBy, select.Having,
            binder.AggregateCalls, window, time, width, width, EventTimeOf(watermarks, from, time));
    }

    /// <summary>A query whose aggregates are OVER windows: every aggregate needs one, and there is no GROUP BY.</summary>
    private static SlidingPump CompileSliding(CreatePumpStatement p, SelectStatement select, StreamSchema from, StreamSchema target,
        Binder binder, List<Expr> items, int[] slots)
    {
        if (select.GroupBy.Count > 0 || select.Stagger is not null)
        {
            var at = select.GroupBy.Count > 0 ? select.GroupBy[0].At : select.Stagger!.At;
            throw new SqlException(at.Line, at.Column, "A query with sliding windows (OVER) cannot also GROUP BY or be WINDOWED BY STAGGER.");
        }
        if (select.Having is not null)
            throw new SqlException(select.Having.At.Line, select.Having.At.Column, "HAVING needs GROUP BY; filter a sliding window's rows in a following pump.");
        var windows = new List<WindowSpec>();
        var windowOf = new int[binder.AggregateCalls.Count];
        foreach (var call in binder.AggregateCalls)
        {
            WindowSpec spec;
            if (call.Over is not null)
            {
                spec = call.Over;
            }
            else if (call.OverName is not null)
            {
                if (!select.Windows.TryGetValue(call.OverName, out spec!))
                    throw new SqlException(call.OverAt!.Value.Line, call.OverAt.Value.Column, $"Window {call.OverName} is not defined; define it with WINDOW {call.OverName} AS (...).");
            }
            else
            {
                throw new SqlException(call.At.Line, call.At.Column, $"Aggregate {call.Name} needs OVER a window in a query with sliding windows (or GROUP BY a tumbling window).");
            }
            if (call.Distinct)
                throw new SqlException(call.At.Line, call.At.Column, "DISTINCT aggregates are for GROUP BY windows, not sliding windows.");
            var index = windows.IndexOf(spec);
            if (index < 0)
            {
                var partitionBinder = binder.Fork();
                foreach (var e in spec.PartitionBy)
                    partitionBinder.Bind(e, allowAggregates: false);
                windows.Add(spec);
                index = windows.Count - 1;
            }
            windowOf[call.AggregateIndex] = index;
        }
        return new SlidingPump(p.Name, from, target, items, slots, select.Where, binder.AggregateCalls, windows, windowOf);
    }

    private static Token? FindColumn(SelectStatement select, int index)
    {
        Token? found = null;
        void Walk(Expr? e, bool inAggregate)
        {
            switch (e)
            {
                case ColumnExpr c when c.Index == index && !inAggregate && found is null:
                    found = c.At;
                    break;
                case BinaryExpr b:
                    Walk(b.Left, inAggregate);
                    Walk(b.Right, inAggregate);
                    break;
                case UnaryExpr u:
                    Walk(u.Operand, inAggregate);
                    break;
                case CallExpr call:
                    foreach (var a in call.Args)
                        Walk(a, inAggregate || call.AggregateIndex >= 0);
                    break;
                case CastExpr c:
                    Walk(c.Value, inAggregate);
                    break;
            }
        }
        foreach (var item in select.Items)
            Walk(item.Value, false);
        Walk(select.Having, false);
        return found;
    }

    /// <summary>Declares the lanes (input shards) of a source stream; event-time windows wait for every lane.</summary>
    public void SetLanes(string sourceStream, IEnumerable<int> lanes)
    {
        foreach (var pump in Readers(sourceStream).SelectMany(p => p.Stages).OfType<EventTimePump>())
            pump.SetLanes(lanes);
    }

    /// <summary>
    /// Marks a lane idle (caught up and quiet for a while) or active again: an idle lane no longer holds event-time
    /// windows open. Applies to every source stream.
    /// </summary>
    public void SetIdle(int lane, bool idle)
    {
        foreach (var pump in Inner.OfType<EventTimePump>().Where(p => p.ReadsLanes || p.Source.IsSource))
            pump.SetIdle(lane, idle, Emit);
        Drain();
    }

    /// <summary>Feeds one row of a source stream (ROWTIME at 0, APPROXIMATE_ARRIVAL_TIME at 1).</summary>
    public void Insert(string sourceStream, int lane, object?[] row)
    {
        foreach (var pump in Readers(sourceStream))
            pump.Process(lane, row, _emit);
        Drain();
    }

    /// <summary>
    /// Every source row up to <paramref name="rowtime"/> has been inserted: windows over ROWTIME that end at or before
    /// it close now, even if no later row came (the runner calls this when every shard is caught up).
    /// </summary>
    public void AdvanceRowtime(DateTime rowtime)
    {
        foreach (var pump in Inner.OfType<EventTimePump>())
            pump.AdvanceRowtime(rowtime, Emit);
        foreach (var pump in Inner.OfType<StaggerPump>())
            pump.Advance(rowtime, Emit);
        Drain();
    }

    private readonly Queue<(string Stream, object?[] Row)> _pending = new();

    private void Emit(string stream, object?[] row) => _pending.Enqueue((stream, row));

    /// <summary>Delivers emitted rows breadth-first, so a chain of pumps never recurses deeply.</summary>
    private void Drain()
    {
        while (_pending.TryDequeue(out var next))
        {
            Emitted?.Invoke(next.Stream, next.Row);
            foreach (var pump in Readers(next.Stream))
                pump.Process(0, next.Row, _emit);
        }
    }

    private List<Pump> Readers(string stream) => _readers.TryGetValue(stream, out var list) ? list : NoReaders;

    /// <summary>The state of every window, as text that <see cref="RestoreState"/> takes back.</summary>
    public string SaveState() => ProgramState.Save(Inner);

    public void RestoreState(string? state)
    {
        if (!string.IsNullOrEmpty(state))
            ProgramState.Restore(state, Inner.ToDictionary(p => p.Name));
    }
}
