using System.Globalization;
using System.Text;
using System.Text.Json;
using Runnel.Analytics.Applications;
using Runnel.Analytics.Sql;

namespace Runnel.Analytics.Runner;

/// <summary>
/// Turns one stream record into rows of the input's in-application stream: ROWTIME and APPROXIMATE_ARRIVAL_TIME
/// (both the record's arrival time, so a replay gives the same rows), then the RecordColumns. JSON maps each column
/// by its JSONPath (<c>$.a.b</c>; no mapping means <c>$.NAME</c>); CSV splits rows and columns by the delimiters and
/// maps columns by position. A record that does not map is skipped and counted.
/// </summary>
public sealed class RecordDecoder
{
    private readonly InputSchemaModel _schema;
    private readonly string[][] _paths;

    /// <summary>
    /// When every column maps a member of the top-level object (<c>$.name</c>, the usual case), the UTF-8 names of those
    /// members, and a record is read in one pass of the tokenizer with nothing built but the row; otherwise null.
    /// </summary>
    private readonly byte[][]? _topLevelNames;

    public RecordDecoder(InputSchemaModel schema)
    {
        _schema = schema;
        _paths = [.. schema.Columns.Select(c => (c.Mapping ?? "$." + c.Name).TrimStart('$').Split('.', StringSplitOptions.RemoveEmptyEntries))];
        if (_paths.All(p => p.Length == 1))
            _topLevelNames = [.. _paths.Select(p => Encoding.UTF8.GetBytes(p[0]))];
    }

    public long Failed { get; private set; }

    public void Decode(ReadOnlyMemory<byte> data, long arrivalUnixMs, List<object?[]> rows)
    {
        var arrival = Values.FromUnixMs(arrivalUnixMs);
        try
        {
            if (_schema.Format == "JSON")
                DecodeJson(data, arrival, rows);
            else
                DecodeCsv(data, arrival, rows);
        }
        catch (Exception e) when (e is JsonException or SqlRuntimeException or InvalidOperationException or FormatException)
        {
            Failed++;
        }
    }

    /// <summary>
    /// The rows of a reference object (no time columns): CSV rows by the row delimiter, JSON one object per line. A row
    /// that does not map is skipped and counted in <see cref="Failed"/>.
    /// </summary>
    public List<object?[]> DecodeTable(ReadOnlyMemory<byte> data)
    {
        var rows = new List<object?[]>();
        if (_schema.Format == "JSON")
        {
            foreach (var line in Encoding.UTF8.GetString(data.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                Decode(Encoding.UTF8.GetBytes(line), 0, rows);
        }
        else
        {
            Decode(data, 0, rows);
        }
        return [.. rows.Select(r => r[2..])];
    }

    private void DecodeJson(ReadOnlyMemory<byte> data, DateTime arrival, List<object?[]> rows)
    {
        if (_topLevelNames is not null)
        {
            rows.Add(DecodeTopLevel(data.Span, arrival));
            return;
        }
        using var doc = JsonDocument.Parse(data);
        var row = NewRow(arrival);
        for (var i = 0; i < _paths.Length; i++)
        {
            var e = doc.RootElement;
            var found = true;
            foreach (var step in _paths[i])
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(step, out e))
                {
                    found = false;
                    break;
                }
            }
            row[i + 2] = found ? Convert(e, _schema.Columns[i].Kind) : null;
        }
        rows.Add(row);
    }

    /// <summary>
    /// The same row <see cref="DecodeJson"/> builds through a document, read in one pass: a mapped member takes its
    /// value (the last one when a name repeats, as a document lookup finds), every other member is skipped; a root that
    /// is not an object maps nothing. The whole record is read, so malformed JSON fails as a document parse does.
    /// </summary>
    private object?[] DecodeTopLevel(ReadOnlySpan<byte> data, DateTime arrival)
    {
        var row = NewRow(arrival);
        var reader = new Utf8JsonReader(data);
        if (!reader.Read())
            throw new JsonException("The record is empty.");
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
        }
        else
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var column = -1;
                for (var i = 0; i < _topLevelNames!.Length; i++)
                {
                    if (reader.ValueTextEquals(_topLevelNames[i]))
                    {
                        column = i;
                        break;
                    }
                }
                reader.Read();
                if (column < 0)
                    reader.Skip();
                else
                    row[column + 2] = Convert(ref reader, data, _schema.Columns[column].Kind);
            }
        }
        // Anything after the root value is an error, as in a document parse.
        if (reader.Read())
            throw new JsonException("The record holds more than one JSON value.");
        return row;
    }

    private static object? Convert(ref Utf8JsonReader reader, ReadOnlySpan<byte> data, SqlKind kind)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.Number when kind == SqlKind.Integer && reader.TryGetInt64(out var l):
                return l;
            case JsonTokenType.Number when kind == SqlKind.Double:
                return reader.GetDouble();
            case JsonTokenType.Number when kind == SqlKind.Varchar:
                return Encoding.UTF8.GetString(reader.ValueSpan);
            case JsonTokenType.Number:
                return Values.Coerce(reader.GetDouble(), kind);
            case JsonTokenType.String:
                return Values.Coerce(reader.GetString(), kind);
            case JsonTokenType.True or JsonTokenType.False:
                return Values.Coerce(reader.GetBoolean(), kind);
            default:
                if (kind != SqlKind.Varchar)
                    throw new SqlRuntimeException($"A JSON {(reader.TokenType == JsonTokenType.StartObject ? "Object" : "Array")} does not map to a scalar column.");
                // The value's text as written, as JsonElement.GetRawText gives it.
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                return Encoding.UTF8.GetString(data[start..((int)reader.TokenStartIndex + 1)]);
        }
    }

    private object?[] NewRow(DateTime arrival)
    {
        var row = new object?[_schema.Columns.Count + 2];
        // One boxed value serves both columns: rows are never changed in place.
        object boxed = arrival;
        row[0] = boxed;
        row[1] = boxed;
        return row;
    }

    private static object? Convert(JsonElement e, SqlKind kind) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.Number when kind == SqlKind.Integer && e.TryGetInt64(out var l) => l,
        JsonValueKind.Number when kind == SqlKind.Double => e.GetDouble(),
        JsonValueKind.Number when kind == SqlKind.Varchar => e.GetRawText(),
        JsonValueKind.Number => Values.Coerce(e.GetDouble(), kind),
        JsonValueKind.String => Values.Coerce(e.GetString(), kind),
        JsonValueKind.True or JsonValueKind.False => Values.Coerce(e.GetBoolean(), kind),
        _ => kind == SqlKind.Varchar ? e.GetRawText() : throw new SqlRuntimeException($"A JSON {e.ValueKind} does not map to a scalar column."),
    };

    private void DecodeCsv(ReadOnlyMemory<byte> data, DateTime arrival, List<object?[]> rows)
    {
        var text = Encoding.UTF8.GetString(data.Span);
        foreach (var line in text.Split(_schema.RowDelimiter, StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.TrimEnd('\r').Split(_schema.ColumnDelimiter);
            var row = NewRow(arrival);
            for (var i = 0; i < _schema.Columns.Count; i++)
            {
                var field = i < fields.Length ? fields[i] : null;
                row[i + 2] = string.IsNullOrEmpty(field) && _schema.Columns[i].Kind != SqlKind.Varchar
                    ? null
                    : Values.Coerce(field, _schema.Columns[i].Kind);
            }
            rows.Add(row);
        }
    }

    /// <summary>A row of an in-application stream as an output record: a JSON object of the visible columns, or CSV.</summary>
    public static byte[] Encode(StreamSchema schema, object?[] row, string format)
    {
        if (format == "CSV")
        {
            var fields = new List<string>();
            for (var i = schema.Hidden; i < schema.Columns.Count; i++)
                fields.Add(row[i] switch { null => "", DateTime t => Values.FormatTimestamp(t), var v => (string)Values.Coerce(v, SqlKind.Varchar)! });
            return Encoding.UTF8.GetBytes(string.Join(',', fields) + "\n");
        }
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            for (var i = schema.Hidden; i < schema.Columns.Count; i++)
            {
                var name = schema.Columns[i].Name;
                switch (row[i])
                {
                    case null:
                        w.WriteNull(name);
                        break;
                    case long l:
                        w.WriteNumber(name, l);
                        break;
                    case double d when double.IsFinite(d):
                        w.WriteNumber(name, d);
                        break;
                    case double d:
                        w.WriteString(name, d.ToString(CultureInfo.InvariantCulture));
                        break;
                    case bool b:
                        w.WriteBoolean(name, b);
                        break;
                    case DateTime t:
                        w.WriteString(name, Values.FormatTimestamp(t));
                        break;
                    case var v:
                        w.WriteString(name, (string)Values.Coerce(v, SqlKind.Varchar)!);
                        break;
                }
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
