using System.Globalization;

namespace Runnel.Analytics.Sql;

/// <summary>
/// How a window pump's watermark follows its time column: the declared delay (WATERMARK FOR t AS t - INTERVAL 'd')
/// and the allowed lateness (ALLOWED LATENESS INTERVAL 'l'); both zero when the stream declares none.
/// </summary>
internal readonly record struct EventTime(TimeSpan Delay, TimeSpan Lateness);

/// <summary>
/// An aggregation over event-time windows. The watermark is the smallest, over the lanes (input shards) that are not
/// idle, of the latest time seen in that lane, minus the declared delay; it never goes back. A window fires (its groups
/// are emitted, ROWTIME = the window's end) when the watermark reaches its end, and is kept for the allowed lateness
/// after that: a row for a fired window that is still kept updates it and emits the group's updated row at once (same
/// window and key). A row whose every window is past its lateness changes nothing, is counted in LateRows and reported
/// in error_stream as LATE_ROW. Whether a kept window has fired follows from its end and the watermark, so the saved
/// state needs no flag.
/// </summary>
internal abstract class EventTimePump(
    string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where,
    IReadOnlyList<Expr> keys, Expr? having, IReadOnlyList<CallExpr> aggregates, Expr time, EventTime eventTime)
    : Pump(name, source, target, items, slots, where)
{
    private readonly bool _overRowtime = time is ColumnExpr { Index: 0 };

    protected IReadOnlyList<Expr> Keys { get; } = keys;
    protected Expr? Having { get; } = having;
    protected IReadOnlyList<CallExpr> Aggregates { get; } = aggregates;
    protected long LatenessTicks { get; } = eventTime.Lateness.Ticks;

    public Dictionary<int, LaneClock> Lanes { get; } = [];
    public DateTime Watermark { get; set; } = DateTime.MinValue;
    public long LateRows { get; set; }
    public int AggregateCount => Aggregates.Count;

    /// <summary>Set once the pump's stream is an input stream whose shards are its lanes.</summary>
    public bool ReadsLanes { get; private set; }

    public void SetLanes(IEnumerable<int> lanes)
    {
        ReadsLanes = true;
        foreach (var lane in lanes)
            Lanes.TryAdd(lane, new LaneClock());
    }

    public void SetIdle(int lane, bool idle, RowSink emit)
    {
        if (!Lanes.TryGetValue(lane, out var clock))
            return;
        clock.Idle = idle;
        if (idle)
            Advance(emit);
    }

    public override void Process(int lane, object?[] row, RowSink emit)
    {
        try
        {
            if (Where is not null && !Evaluator.IsTrue(Where, row))
                return;
            if (Values.Coerce(Evaluator.Eval(time, row), SqlKind.Timestamp) is not DateTime t)
                throw new SqlRuntimeException("The window's time is NULL.");
            if (!Lanes.TryGetValue(lane, out var clock))
                Lanes[lane] = clock = new LaneClock();
            clock.Idle = false;
            if (t > clock.Max)
                clock.Max = t;
            Accept(t, row, emit);
        }
        catch (SqlRuntimeException e)
        {
            Fail(row, e, emit);
            return;
        }
        Advance(emit);
    }

    /// <summary>Adds a row at event time <paramref name="t"/> to its windows, or reports it late.</summary>
    protected abstract void Accept(DateTime t, object?[] row, RowSink emit);

    /// <summary>
    /// The watermark moved from <paramref name="previous"/>: windows whose end is in (previous, watermark] fire, and
    /// windows whose end plus the lateness is at or before the watermark are dropped.
    /// </summary>
    protected abstract void Fire(DateTime previous, RowSink emit);

    public void AdvanceRowtime(DateTime rowtime, RowSink emit)
    {
        if (!_overRowtime || rowtime <= Watermark)
            return;
        var previous = Watermark;
        Watermark = rowtime;
        Fire(previous, emit);
    }

    private void Advance(RowSink emit)
    {
        var low = DateTime.MaxValue;
        foreach (var clock in Lanes.Values)
        {
            if (!clock.Idle && clock.Max < low)
                low = clock.Max;
        }
        if (low == DateTime.MaxValue)
            return;
        var mark = low.Ticks - DateTime.MinValue.Ticks < eventTime.Delay.Ticks ? DateTime.MinValue : low - eventTime.Delay;
        if (mark <= Watermark)
            return;
        var previous = Watermark;
        Watermark = mark;
        Fire(previous, emit);
    }

    protected void Aggregate(WindowGroup group, object?[] row)
    {
        for (var i = 0; i < Aggregates.Count; i++)
        {
            var call = Aggregates[i];
            group.States[i].Add(call.Name, call.Star ? null : Evaluator.Eval(call.Args[0], row), call.Star);
        }
    }

    protected void ReportLate(object?[] row, long start, long end, RowSink emit)
    {
        LateRows++;
        var lateness = LatenessTicks > 0
            ? $" and its allowed lateness of {TimeSpan.FromTicks(LatenessTicks).TotalSeconds.ToString(CultureInfo.InvariantCulture)} s"
            : "";
        emit(ErrorStream.Name, ErrorStream.Row(ErrorStream.LateRow,
            $"Row for the window [{Format(start)}, {Format(end)}) arrived after it closed{lateness} (watermark {Values.FormatTimestamp(Watermark)}).",
            row, Source, Name));
    }

    protected static DateTime At(long ticks) => new(ticks, DateTimeKind.Utc);

    private static string Format(long ticks) => Values.FormatTimestamp(At(ticks));
}

/// <summary>
/// Tumbling and hopping windows (GROUP BY with STEP or FLOOR, or TUMBLE / HOP over a time column), keyed by their
/// start. A STEP or FLOOR window's start is its expression's value; TUMBLE(t, size) is HOP with slide = size, and
/// HOP(t, slide, size) puts a row in every window [k·slide, k·slide + size) that holds t. Every window has the same
/// size, so ordering by start orders by end.
/// </summary>
internal sealed class WindowPump(
    string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where,
    IReadOnlyList<Expr> keys, Expr? having, IReadOnlyList<CallExpr> aggregates, Expr? window, Expr time,
    TimeSpan size, TimeSpan slide, EventTime eventTime)
    : EventTimePump(name, source, target, items, slots, where, keys, having, aggregates, time, eventTime)
{
    public SortedDictionary<long, Dictionary<string, WindowGroup>> Windows { get; } = [];

    /// <summary>
    /// No window fires or is dropped before the watermark reaches this, so a watermark that moves without reaching it
    /// (most rows) skips the scan of the windows. Starts below any real value, so the first move after a restore scans.
    /// </summary>
    private long _due = long.MinValue;

    /// <summary>TUMBLE or HOP (whose bounds TUMBLE_START, HOP_END etc. read) rather than STEP or FLOOR.</summary>
    public bool GroupWindow { get; init; }

    /// <summary>For TOP_K_ITEMS_TUMBLING: a firing window emits only its k groups with the highest first aggregate.</summary>
    public int? TopK { get; init; }

    protected override void Accept(DateTime t, object?[] row, RowSink emit)
    {
        long last;
        if (window is not null)
            last = Evaluator.Eval(window, row) is DateTime start ? start.Ticks : throw new SqlRuntimeException("The window's time is NULL.");
        else
            last = t.Ticks - (t.Ticks % slide.Ticks);
        // A STEP or FLOOR window is the one start its expression gives, even if the time differs from it.
        var first = window is not null ? last : t.Ticks - size.Ticks + 1;
        var key = KeySpan(Keys, row);
        var accepted = false;
        for (var s = last; s >= first && s >= 0; s -= slide.Ticks)
        {
            var end = s + size.Ticks;
            // Starts go down, so every later window of the loop is later still.
            if (end + LatenessTicks <= Watermark.Ticks)
                break;
            accepted = true;
            if (!Windows.TryGetValue(s, out var groups))
            {
                Windows[s] = groups = [];
                _due = Math.Min(_due, end <= Watermark.Ticks ? end + LatenessTicks : end);
            }
            // Looked up by the key's characters: a row of a group that exists allocates no key.
            var byKey = groups.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!byKey.TryGetValue(key, out var group))
                byKey[key] = group = new WindowGroup(row, AggregateState.For(Aggregates));
            Aggregate(group, row);
            if (end <= Watermark.Ticks)
                EmitGroup(group, Aggregates, Having, At(end), emit, At(s));
        }
        if (!accepted)
            ReportLate(row, last, last + size.Ticks, emit);
    }

    protected override void Fire(DateTime previous, RowSink emit)
    {
        if (Watermark.Ticks < _due)
            return;
        List<long>? dropped = null;
        // Windows are in start order and of one size, so the first kept window is dropped first, and the first
        // window past the watermark fires first.
        var nextDrop = long.MaxValue;
        var nextFire = long.MaxValue;
        foreach (var (start, groups) in Windows)
        {
            var end = start + size.Ticks;
            if (end > Watermark.Ticks)
            {
                nextFire = end;
                break;
            }
            if (end > previous.Ticks)
            {
                IEnumerable<WindowGroup> chosen = groups.Values;
                if (TopK is { } k)
                {
                    chosen = groups.OrderByDescending(g => g.Value.States[0].Count).ThenBy(g => g.Key, StringComparer.Ordinal)
                        .Take(k).Select(g => g.Value);
                }
                foreach (var group in chosen)
                    EmitGroup(group, Aggregates, Having, At(end), emit, At(start));
            }
            if (end + LatenessTicks <= Watermark.Ticks)
                (dropped ??= []).Add(start);
            else if (nextDrop == long.MaxValue)
                nextDrop = end + LatenessTicks;
        }
        foreach (var start in dropped ?? [])
            Windows.Remove(start);
        _due = Math.Min(nextDrop, nextFire);
    }
}

/// <summary>A session of one key: [start, end) where end is the last row's time plus the gap.</summary>
internal sealed class Session(long start, long end, WindowGroup group)
{
    public long Start = start;
    public long End = end;
    public WindowGroup Group { get; } = group;
}

/// <summary>
/// SESSION(t, gap) windows per group key: a row at t opens [t, t + gap) and joins every session of its key that this
/// interval meets (touching counts), so sessions of a key never overlap. A row that meets no kept session and whose
/// own session is past the lateness is late. A kept session that a late row extends past the watermark fires again
/// when the watermark passes its new end.
/// </summary>
internal sealed class SessionPump(
    string name, StreamSchema source, StreamSchema target, IReadOnlyList<Expr> items, int[] slots, Expr? where,
    IReadOnlyList<Expr> keys, Expr? having, IReadOnlyList<CallExpr> aggregates, Expr time, TimeSpan gap, EventTime eventTime)
    : EventTimePump(name, source, target, items, slots, where, keys, having, aggregates, time, eventTime)
{
    /// <summary>No session fires or is dropped before the watermark reaches this, so firing skips the scan until then.</summary>
    private long _due = long.MinValue;

    public Dictionary<string, List<Session>> Sessions { get; } = [];

    protected override void Accept(DateTime t, object?[] row, RowSink emit)
    {
        var key = KeyOf(Keys, row);
        var start = t.Ticks;
        var end = t.Ticks + gap.Ticks;
        if (!Sessions.TryGetValue(key, out var sessions))
            Sessions[key] = sessions = [];
        Session? joined = null;
        for (var i = sessions.Count - 1; i >= 0; i--)
        {
            var s = sessions[i];
            if (s.Start > end || s.End < start)
                continue;
            if (joined is null)
            {
                joined = s;
                continue;
            }
            joined.Start = Math.Min(joined.Start, s.Start);
            joined.End = Math.Max(joined.End, s.End);
            for (var a = 0; a < Aggregates.Count; a++)
                joined.Group.States[a].Merge(Aggregates[a].Name, s.Group.States[a]);
            sessions.RemoveAt(i);
        }
        if (joined is null)
        {
            if (end + LatenessTicks <= Watermark.Ticks)
            {
                if (sessions.Count == 0)
                    Sessions.Remove(key);
                ReportLate(row, start, end, emit);
                return;
            }
            sessions.Add(joined = new Session(start, end, new WindowGroup(row, AggregateState.For(Aggregates))));
        }
        else
        {
            joined.Start = Math.Min(joined.Start, start);
            joined.End = Math.Max(joined.End, end);
        }
        Aggregate(joined.Group, row);
        var fired = joined.End <= Watermark.Ticks;
        if (fired)
            EmitGroup(joined.Group, Aggregates, Having, At(joined.End), emit, At(joined.Start));
        _due = Math.Min(_due, fired ? joined.End + LatenessTicks : joined.End);
    }

    protected override void Fire(DateTime previous, RowSink emit)
    {
        if (Watermark.Ticks < _due)
            return;
        var next = long.MaxValue;
        var firing = new List<Session>();
        List<string>? empty = null;
        foreach (var (key, sessions) in Sessions)
        {
            for (var i = sessions.Count - 1; i >= 0; i--)
            {
                var s = sessions[i];
                if (s.End <= Watermark.Ticks && s.End > previous.Ticks)
                    firing.Add(s);
                if (s.End + LatenessTicks <= Watermark.Ticks)
                {
                    sessions.RemoveAt(i);
                    continue;
                }
                next = Math.Min(next, s.End > Watermark.Ticks ? s.End : s.End + LatenessTicks);
            }
            if (sessions.Count == 0)
                (empty ??= []).Add(key);
        }
        foreach (var key in empty ?? [])
            Sessions.Remove(key);
        _due = next;
        foreach (var s in firing.OrderBy(s => s.End).ThenBy(s => s.Start))
            EmitGroup(s.Group, Aggregates, Having, At(s.End), emit, At(s.Start));
    }
}
