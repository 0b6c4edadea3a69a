using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Runnel.Analytics.Sql;

/// <summary>
/// Window state as JSON: per window pump its watermark, lane clocks and open windows with their groups. Values carry
/// their kind ({"l":1}, {"d":1.5}, {"s":"x"}, {"b":true}, {"t":ticks}, null) so a restored group is equal to the
/// one saved.
/// </summary>
internal static class ProgramState
{
    public static string Save(IEnumerable<WindowPump> pumps)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var p in pumps)
            {
                w.WriteStartObject(p.Name);
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
                w.WriteStartArray("windows");
                foreach (var (start, groups) in p.Windows)
                {
                    w.WriteStartObject();
                    w.WriteNumber("start", start);
                    w.WriteStartArray("groups");
                    foreach (var (key, g) in groups)
                    {
                        w.WriteStartObject();
                        w.WriteString("key", key);
                        w.WriteStartArray("row");
                        foreach (var v in g.Row)
                            WriteValue(w, v);
                        w.WriteEndArray();
                        w.WriteStartArray("aggregates");
                        foreach (var s in g.States)
                        {
                            w.WriteStartArray();
                            w.WriteNumberValue(s.Count);
                            w.WriteNumberValue(s.Sum);
                            w.WriteNumberValue(s.IntegerSum);
                            w.WriteBooleanValue(s.AllIntegers);
                            WriteValue(w, s.Extreme);
                            w.WriteEndArray();
                        }
                        w.WriteEndArray();
                        w.WriteEndObject();
                    }
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
    public static void Restore(string state, IReadOnlyDictionary<string, WindowPump> pumps)
    {
        using var doc = JsonDocument.Parse(state);
        foreach (var saved in doc.RootElement.EnumerateObject())
        {
            if (!pumps.TryGetValue(saved.Name, out var p))
                continue;
            var s = saved.Value;
            p.Watermark = new DateTime(s.GetProperty("watermark").GetInt64(), DateTimeKind.Utc);
            p.LateRows = s.GetProperty("late").GetInt64();
            foreach (var lane in s.GetProperty("lanes").EnumerateArray())
                p.Lanes[lane[0].GetInt32()] = new LaneClock { Max = new DateTime(lane[1].GetInt64(), DateTimeKind.Utc), Idle = lane[2].GetBoolean() };
            foreach (var window in s.GetProperty("windows").EnumerateArray())
            {
                var groups = new Dictionary<string, WindowGroup>();
                foreach (var g in window.GetProperty("groups").EnumerateArray())
                {
                    var row = g.GetProperty("row").EnumerateArray().Select(ReadValue).ToArray();
                    var states = g.GetProperty("aggregates").EnumerateArray().Select(a => new AggregateState
                    {
                        Count = a[0].GetInt64(),
                        Sum = a[1].GetDouble(),
                        IntegerSum = a[2].GetInt64(),
                        AllIntegers = a[3].GetBoolean(),
                        Extreme = ReadValue(a[4]),
                    }).ToArray();
                    if (states.Length != p.AggregateCount)
                        throw new InvalidOperationException($"Saved state of pump {p.Name} does not match its code.");
                    groups[g.GetProperty("key").GetString()!] = new WindowGroup(row, states);
                }
                p.Windows[window.GetProperty("start").GetInt64()] = groups;
            }
        }
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
