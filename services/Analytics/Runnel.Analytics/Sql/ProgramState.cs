using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Runnel.Analytics.Sql;

/// <summary>
/// Window state as JSON, per pump by name: a tumbling pump's watermark, lane clocks and open windows with their groups;
/// a sliding pump's partitions with their rows ("kind":"sliding"); a stagger pump's clock and open windows
/// ("kind":"stagger"); a session pump's clock and sessions ("kind":"session"). A saved kind that does not match the pump's (changed code) leaves the pump empty. Values carry
/// their kind ({"l":1}, {"d":1.5}, {"s":"x"}, {"b":true}, {"t":ticks}, null) so a restored group is equal to the
/// one saved.
/// </summary>
internal static class ProgramState
{
    public static string Save(IEnumerable<Pump> pumps)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var pump in pumps)
            {
                if (pump is SlidingPump sliding)
                {
                    SaveSliding(w, sliding);
                    continue;
                }
                if (pump is StaggerPump stagger)
                {
                    SaveStagger(w, stagger);
                    continue;
                }
                if (pump is SessionPump session)
                {
                    SaveSession(w, session);
                    continue;
                }
                if (pump is not WindowPump p)
                    continue;
                w.WriteStartObject(p.Name);
                WriteClock(w, p);
                w.WriteStartArray("windows");
                foreach (var (start, groups) in p.Windows)
                {
                    w.WriteStartObject();
                    w.WriteNumber("start", start);
                    w.WriteStartArray("groups");
                    foreach (var (key, g) in groups)
                        WriteGroup(w, key, null, g);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Restores pumps found in the state; a pump the state does not know (new code) starts empty.</summary>
    public static void Restore(string state, IReadOnlyDictionary<string, Pump> pumps)
    {
        using var doc = JsonDocument.Parse(state);
        foreach (var saved in doc.RootElement.EnumerateObject())
        {
            if (!pumps.TryGetValue(saved.Name, out var pump))
                continue;
            var s = saved.Value;
            var kind = s.TryGetProperty("kind", out var k) ? k.GetString() : "tumbling";
            switch (pump)
            {
                case SlidingPump sliding when kind == "sliding":
                    RestoreSliding(s, sliding);
                    continue;
                case StaggerPump stagger when kind == "stagger":
                    RestoreStagger(s, stagger);
                    continue;
                case SessionPump session when kind == "session":
                    RestoreSession(s, session);
                    continue;
            }
            if (pump is not WindowPump p || kind != "tumbling")
                continue;
            ReadClock(s, p);
            foreach (var window in s.GetProperty("windows").EnumerateArray())
            {
                var groups = new Dictionary<string, WindowGroup>();
                foreach (var g in window.GetProperty("groups").EnumerateArray())
                {
                    groups[g.GetProperty("key").GetString()!] = ReadGroup(g, p.Name, p.AggregateCount);
                }
                p.Windows[window.GetProperty("start").GetInt64()] = groups;
            }
        }
    }

    /// <summary>An event-time pump's watermark, late-row count and lane clocks ([lane, latest time, idle]).</summary>
    private static void WriteClock(Utf8JsonWriter w, EventTimePump p)
    {
        w.WriteNumber("watermark", p.Watermark.Ticks);
        w.WriteNumber("late", p.LateRows);
        w.WriteStartArray("lanes");
        foreach (var (lane, clock) in p.Lanes)
        {
            w.WriteStartArray();
            w.WriteNumberValue(lane);
            w.WriteNumberValue(clock.Max.Ticks);
            w.WriteBooleanValue(clock.Idle);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    private static void ReadClock(JsonElement s, EventTimePump p)
    {
        p.Watermark = new DateTime(s.GetProperty("watermark").GetInt64(), DateTimeKind.Utc);
        p.LateRows = s.GetProperty("late").GetInt64();
        foreach (var lane in s.GetProperty("lanes").EnumerateArray())
            p.Lanes[lane[0].GetInt32()] = new LaneClock { Max = new DateTime(lane[1].GetInt64(), DateTimeKind.Utc), Idle = lane[2].GetBoolean() };
    }

    /// <summary>Sessions as groups with their start ("open") and end, kept ones that already fired included.</summary>
    private static void SaveSession(Utf8JsonWriter w, SessionPump p)
    {
        w.WriteStartObject(p.Name);
        w.WriteString("kind", "session");
        WriteClock(w, p);
        w.WriteStartArray("sessions");
        foreach (var (key, sessions) in p.Sessions)
        {
            foreach (var session in sessions)
                WriteGroup(w, key, session.Start, session.Group, session.End);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void RestoreSession(JsonElement s, SessionPump p)
    {
        ReadClock(s, p);
        foreach (var g in s.GetProperty("sessions").EnumerateArray())
        {
            var key = g.GetProperty("key").GetString()!;
            if (!p.Sessions.TryGetValue(key, out var sessions))
                p.Sessions[key] = sessions = [];
            sessions.Add(new Session(g.GetProperty("open").GetInt64(), g.GetProperty("end").GetInt64(), ReadGroup(g, p.Name, p.AggregateCount)));
        }
    }

    /// <summary>A group as {"key":..,["open":ticks,]["end":ticks,]"row":[...],"aggregates":[...]}.</summary>
    private static void WriteGroup(Utf8JsonWriter w, string key, long? open, WindowGroup g, long? end = null)
    {
        w.WriteStartObject();
        w.WriteString("key", key);
        if (open is { } ticks)
            w.WriteNumber("open", ticks);
        if (end is { } endTicks)
            w.WriteNumber("end", endTicks);
        w.WriteStartArray("row");
        foreach (var v in g.Row)
            WriteValue(w, v);
        w.WriteEndArray();
        WriteStates(w, g.States);
        w.WriteEndObject();
    }

    private static void WriteStates(Utf8JsonWriter w, AggregateState[] states)
    {
        w.WriteStartArray("aggregates");
        foreach (var s in states)
        {
            w.WriteStartArray();
            w.WriteNumberValue(s.Count);
            w.WriteNumberValue(s.Sum);
            w.WriteNumberValue(s.IntegerSum);
            w.WriteBooleanValue(s.AllIntegers);
            WriteValue(w, s.Extreme);
            if (s.Seen is not null)
            {
                w.WriteStartArray();
                foreach (var v in s.Seen)
                    WriteValue(w, v);
                w.WriteEndArray();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    /// <summary>A group saved as {"row":[...],"aggregates":[...]}.</summary>
    private static WindowGroup ReadGroup(JsonElement g, string pump, int aggregateCount)
    {
        var row = g.GetProperty("row").EnumerateArray().Select(ReadValue).ToArray();
        var states = g.GetProperty("aggregates").EnumerateArray().Select(a => new AggregateState
        {
            Count = a[0].GetInt64(),
            Sum = a[1].GetDouble(),
            IntegerSum = a[2].GetInt64(),
            AllIntegers = a[3].GetBoolean(),
            Extreme = ReadValue(a[4]),
            // A DISTINCT aggregate's values follow as a sixth member.
            Seen = a.GetArrayLength() > 5 ? [.. a[5].EnumerateArray().Select(v => ReadValue(v)!)] : null,
        }).ToArray();
        if (states.Length != aggregateCount)
            throw new InvalidOperationException($"Saved state of pump {pump} does not match its code.");
        return new WindowGroup(row, states);
    }

    private static void SaveSliding(Utf8JsonWriter w, SlidingPump p)
    {
        w.WriteStartObject(p.Name);
        w.WriteString("kind", "sliding");
        w.WriteStartArray("windows");
        foreach (var partitions in p.Partitions)
        {
            w.WriteStartObject();
            foreach (var (key, entries) in partitions)
            {
                w.WriteStartArray(key);
                foreach (var entry in entries)
                {
                    w.WriteStartArray();
                    w.WriteNumberValue(entry.Ticks);
                    foreach (var v in entry.Args)
                        WriteValue(w, v);
                    w.WriteEndArray();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void RestoreSliding(JsonElement s, SlidingPump p)
    {
        var windows = s.GetProperty("windows");
        if (windows.GetArrayLength() != p.Partitions.Length)
            throw new InvalidOperationException($"Saved state of pump {p.Name} does not match its code.");
        var w = 0;
        foreach (var window in windows.EnumerateArray())
        {
            foreach (var partition in window.EnumerateObject())
            {
                var entries = new Queue<WindowEntry>();
                foreach (var e in partition.Value.EnumerateArray())
                    entries.Enqueue(new WindowEntry(e[0].GetInt64(), [.. e.EnumerateArray().Skip(1).Select(ReadValue)]));
                p.Partitions[w][partition.Name] = entries;
            }
            w++;
        }
    }

    private static void SaveStagger(Utf8JsonWriter w, StaggerPump p)
    {
        w.WriteStartObject(p.Name);
        w.WriteString("kind", "stagger");
        w.WriteNumber("clock", p.Clock.Ticks);
        w.WriteStartArray("windows");
        foreach (var (key, (open, g)) in p.Open)
            WriteGroup(w, key, open, g);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void RestoreStagger(JsonElement s, StaggerPump p)
    {
        p.Clock = new DateTime(s.GetProperty("clock").GetInt64(), DateTimeKind.Utc);
        foreach (var g in s.GetProperty("windows").EnumerateArray())
            p.Open[g.GetProperty("key").GetString()!] = (g.GetProperty("open").GetInt64(), ReadGroup(g, p.Name, p.AggregateCount));
        p.Restored();
    }

    private static void WriteValue(Utf8JsonWriter w, object? v)
    {
        switch (v)
        {
            case null:
                w.WriteNullValue();
                return;
            case long l:
                w.WriteStartObject();
                w.WriteNumber("l", l);
                break;
            case double d:
                w.WriteStartObject();
                // Non-finite doubles are not JSON numbers; keep them as their round-trip text.
                if (double.IsFinite(d))
                    w.WriteNumber("d", d);
                else
                    w.WriteString("d", d.ToString("R", CultureInfo.InvariantCulture));
                break;
            case string s:
                w.WriteStartObject();
                w.WriteString("s", s);
                break;
            case bool b:
                w.WriteStartObject();
                w.WriteBoolean("b", b);
                break;
            case DateTime t:
                w.WriteStartObject();
                w.WriteNumber("t", t.Ticks);
                break;
            default:
                throw new InvalidOperationException($"Cannot save a value of type {v.GetType().Name}.");
        }
        w.WriteEndObject();
    }

    private static object? ReadValue(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
            return null;
        var p = e.EnumerateObject().First();
        return p.Name switch
        {
            "l" => p.Value.GetInt64(),
            "d" => p.Value.ValueKind == JsonValueKind.String ? double.Parse(p.Value.GetString()!, CultureInfo.InvariantCulture) : p.Value.GetDouble(),
            "s" => p.Value.GetString(),
            "b" => p.Value.GetBoolean(),
            "t" => new DateTime(p.Value.GetInt64(), DateTimeKind.Utc),
            _ => throw new InvalidOperationException($"Unknown value kind {p.Name}."),
        };
    }
}
