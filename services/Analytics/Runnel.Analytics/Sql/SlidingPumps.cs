namespace Runnel.Analytics.Sql;

/// <summary>One row kept in a sliding window: its ROWTIME and the arguments of the window's aggregates.</summary>
internal readonly record struct WindowEntry(long Ticks, object?[] Args);

/// <summary>
/// Sliding windows (aggregates with OVER): one output row per input row that passes WHERE, with the input row's
/// ROWTIME, its own column values and each aggregate over its window's partition. A RANGE window holds the partition's
/// rows whose ROWTIME is within the range before the current row's (a row exactly the range older is out, as in
/// AWS's description: at t6 a 5-second window no longer counts t1); a ROWS n window holds the current row and the n
/// rows of the partition before it. The kept rows are the pump's state, saved with the checkpoint.
/// </summary>
internal sealed class SlidingPump : Pump
{
    private readonly IReadOnlyList<CallExpr> _aggregates;
    private readonly IReadOnlyList<WindowSpec> _windows;
    /// <summary>For each window, the indexes of the aggregates computed over it.</summary>
    private readonly int[][] _members;
    private long _lastSweep;

    public SlidingPump(string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where,
        IReadOnlyList<CallExpr> aggregates, IReadOnlyList<WindowSpec> windows, int[] windowOf)
        : base(name, source, target, items, slots, where)
    {
        _aggregates = aggregates;
        _windows = windows;
        _members = [.. windows.Select((_, w) => Enumerable.Range(0, aggregates.Count).Where(a => windowOf[a] == w).ToArray())];
        Partitions = [.. windows.Select(_ => new Dictionary<string, Queue<WindowEntry>>())];
    }

    /// <summary>Per window, its partitions (keyed by their PARTITION BY values) and the rows they hold, oldest first.</summary>
    public Dictionary<string, Queue<WindowEntry>>[] Partitions { get; }

    public override void Process(int lane, object?[] row, RowSink emit)
    {
        try
        {
            if (Where is not null && !Evaluator.IsTrue(Where, row))
                return;
            var rowtime = (DateTime)row[0]!;
            var t = rowtime.Ticks;
            var results = new object?[_aggregates.Count];
            for (var w = 0; w < _windows.Count; w++)
            {
                var spec = _windows[w];
                var members = _members[w];
                var args = new object?[members.Length];
                for (var i = 0; i < members.Length; i++)
                {
                    var call = _aggregates[members[i]];
                    args[i] = call.Star ? null : Evaluator.Eval(call.Args[0], row);
                }
                var key = KeyOf(spec.PartitionBy, row);
                if (!Partitions[w].TryGetValue(key, out var entries))
                    Partitions[w][key] = entries = new Queue<WindowEntry>();
                entries.Enqueue(new WindowEntry(t, args));
                var low = long.MinValue;
                if (spec.Rows is { } n)
                {
                    while (entries.Count > n + 1)
                        entries.Dequeue();
                }
                else
                {
                    low = t - spec.Range!.Value.Ticks;
                    while (entries.Peek().Ticks <= low)
                        entries.Dequeue();
                }
                var states = new AggregateState[members.Length];
                for (var i = 0; i < states.Length; i++)
                    states[i] = new AggregateState();
                foreach (var entry in entries)
                {
                    // Rows of other shards may be ahead of this one in ROWTIME; a window ends at the current row.
                    if (entry.Ticks <= low || entry.Ticks > t)
                        continue;
                    for (var i = 0; i < members.Length; i++)
                    {
                        var call = _aggregates[members[i]];
                        states[i].Add(call.Name, entry.Args[i], call.Star);
                    }
                }
                for (var i = 0; i < members.Length; i++)
                    results[members[i]] = states[i].Result(_aggregates[members[i]].Name);
            }
            emit(Target.Name, Project(row, results, rowtime));
            Sweep(t);
        }
        catch (SqlRuntimeException e)
        {
            Fail(row, e, emit);
        }
    }

    /// <summary>
    /// Drops RANGE partitions none of whose rows can fall in a later row's window, so keys that stop appearing do not
    /// hold memory. Runs once per range length of ROWTIME, which keeps it off the per-row path.
    /// </summary>
    private void Sweep(long t)
    {
        var longest = _windows.Max(w => w.Range?.Ticks ?? 0);
        if (longest == 0 || t - _lastSweep < longest)
            return;
        _lastSweep = t;
        for (var w = 0; w < _windows.Count; w++)
        {
            if (_windows[w].Range is not { } range)
                continue;
            var low = t - range.Ticks;
            List<string>? stale = null;
            foreach (var (key, entries) in Partitions[w])
            {
                if (entries.All(e => e.Ticks <= low))
                    (stale ??= []).Add(key);
            }
            foreach (var key in stale ?? [])
                Partitions[w].Remove(key);
        }
    }
}

/// <summary>
/// A stagger window (WINDOWED BY STAGGER (PARTITION BY keys RANGE INTERVAL n)), as AWS defines it: a partition key's
/// window opens at the ROWTIME of the first row with that key and closes the range later; its one result row has
/// ROWTIME = open + range. The pump's clock is the latest ROWTIME seen (rows, and the clock while every shard is
/// caught up); windows close, in order of their close time, once the clock reaches it. A row that comes after its
/// key's window closed opens the key's next window.
/// </summary>
internal sealed class StaggerPump(
    string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where,
    IReadOnlyList<Expr> partitionBy, Expr? having, IReadOnlyList<CallExpr> aggregates, TimeSpan range)
    : Pump(name, source, target, items, slots, where)
{
    private readonly PriorityQueue<string, long> _closing = new();

    /// <summary>Open windows by partition key: the open time and the group (its first row and aggregates).</summary>
    public Dictionary<string, (long Open, WindowGroup Group)> Open { get; } = [];

    public DateTime Clock { get; set; } = DateTime.MinValue;

    public int AggregateCount => aggregates.Count;

    public void Restored()
    {
        _closing.Clear();
        foreach (var (key, (open, _)) in Open)
            _closing.Enqueue(key, open + range.Ticks);
    }

    public override void Process(int lane, object?[] row, RowSink emit)
    {
        try
        {
            if (Where is not null && !Evaluator.IsTrue(Where, row))
                return;
            var rowtime = (DateTime)row[0]!;
            Advance(rowtime, emit);
            var key = KeyOf(partitionBy, row);
            if (!Open.TryGetValue(key, out var window))
            {
                Open[key] = window = (rowtime.Ticks, new WindowGroup(row, AggregateState.For(aggregates)));
                _closing.Enqueue(key, rowtime.Ticks + range.Ticks);
            }
            for (var i = 0; i < aggregates.Count; i++)
            {
                var call = aggregates[i];
                window.Group.States[i].Add(call.Name, call.Star ? null : Evaluator.Eval(call.Args[0], row), call.Star);
            }
        }
        catch (SqlRuntimeException e)
        {
            Fail(row, e, emit);
        }
        // A window that opened behind the clock (a row of a lagging shard) may already be due.
        Advance(Clock, emit);
    }

    public void Advance(DateTime rowtime, RowSink emit)
    {
        if (rowtime > Clock)
            Clock = rowtime;
        while (_closing.TryPeek(out var key, out var close) && close <= Clock.Ticks)
        {
            _closing.Dequeue();
            var (_, group) = Open[key];
            Open.Remove(key);
            EmitGroup(group, aggregates, having, new DateTime(close, DateTimeKind.Utc), emit);
        }
    }
}
