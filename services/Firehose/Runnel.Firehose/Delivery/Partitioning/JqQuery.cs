using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Runnel.Firehose.Delivery.Partitioning;

/// <summary>A query outside the supported JQ subset, or one that fails on a record.</summary>
public sealed class JqException(string message) : Exception(message);

/// <summary>
/// The part of JQ 1.6 that dynamic partitioning's MetadataExtractionQuery needs. A query is an object construction
/// <c>{name: expr, ...}</c> (or <c>{name}</c> for <c>{name: .name}</c>); each expr is terms joined by <c>|</c>. Terms:
/// <c>.</c>, paths <c>.a.b</c>, <c>.a["b"]</c>, <c>.["b"]</c>, <c>.a[0]</c>, slices <c>.a[0:4]</c>, string and number
/// literals, parentheses, and the functions <c>tostring</c>, <c>tonumber</c>, <c>ascii_downcase</c>,
/// <c>ascii_upcase</c>, <c>length</c>, <c>floor</c>, <c>todate</c>, <c>strftime(f)</c> (epoch seconds, UTC),
/// <c>split(s)</c>, <c>join(s)</c>, <c>ltrimstr(s)</c>, <c>rtrimstr(s)</c>. A path into a missing member or a null gives
/// null, as in JQ.
/// </summary>
public static class JqQuery
{
    /// <summary>The keys of a query and the expression of each, in the order given.</summary>
    public static IReadOnlyDictionary<string, Expr> ParseKeys(string query)
    {
        var parser = new Parser(query);
        parser.Skip();
        if (!parser.Take('{'))
            throw new JqException("the query must construct an object of partition keys, such as {customer_id: .customer_id}.");
        var keys = parser.ObjectBody();
        parser.Skip();
        if (!parser.AtEnd)
            throw new JqException($"unexpected '{parser.Rest}' after the object.");
        if (keys.Count == 0)
            throw new JqException("the query defines no partition key.");
        return keys;
    }

    /// <summary>
    /// The partition keys of one record: each key's value as text (strings as they are, numbers and booleans as JSON
    /// writes them). Throws <see cref="JqException"/> when the record is not JSON or a key is null, an object or an array.
    /// </summary>
    public static Dictionary<string, string> Evaluate(IReadOnlyDictionary<string, Expr> keys, ReadOnlySpan<byte> record)
    {
        JsonNode? input;
        try
        {
            input = JsonNode.Parse(record);
        }
        catch (JsonException e)
        {
            throw new JqException($"the record is not JSON: {e.Message}");
        }
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, expr) in keys)
        {
            var value = expr.Eval(input);
            values[name] = value switch
            {
                null => throw new JqException($"the partition key {name} is null."),
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonValue v => v.ToJsonString(),
                _ => throw new JqException($"the partition key {name} is {(value is JsonObject ? "an object" : "an array")}, not a value."),
            };
        }
        return values;
    }

    public abstract class Expr
    {
        public abstract JsonNode? Eval(JsonNode? input);
    }

    private sealed class Identity : Expr
    {
        public override JsonNode? Eval(JsonNode? input) => input;
    }

    private sealed class Literal(JsonNode? value) : Expr
    {
        public override JsonNode? Eval(JsonNode? input) => value?.DeepClone();
    }

    private sealed class Pipe(Expr left, Expr right) : Expr
    {
        public override JsonNode? Eval(JsonNode? input) => right.Eval(left.Eval(input));
    }

    private sealed class Member(Expr target, string name) : Expr
    {
        public override JsonNode? Eval(JsonNode? input) => target.Eval(input) switch
        {
            null => null,
            JsonObject o => o[name],
            var other => throw new JqException($"cannot index {Kind(other)} with \"{name}\"."),
        };
    }

    private sealed class Index(Expr target, int index) : Expr
    {
        public override JsonNode? Eval(JsonNode? input) => target.Eval(input) switch
        {
            null => null,
            JsonArray a => (index < 0 ? a.Count + index : index) is var i && i >= 0 && i < a.Count ? a[i] : null,
            var other => throw new JqException($"cannot index {Kind(other)} with a number."),
        };
    }

    private sealed class Slice(Expr target, int? from, int? to) : Expr
    {
        public override JsonNode? Eval(JsonNode? input)
        {
            var value = target.Eval(input);
            if (value is null)
                return null;
            if (value is JsonValue v && v.TryGetValue<string>(out var s))
            {
                var (start, length) = Range(s.Length);
                return JsonValue.Create(s.Substring(start, length));
            }
            if (value is JsonArray a)
            {
                var (start, length) = Range(a.Count);
                return new JsonArray([.. a.Skip(start).Take(length).Select(x => x?.DeepClone())]);
            }
            throw new JqException($"cannot slice {Kind(value)}.");
        }

        private (int Start, int Length) Range(int count)
        {
            int Clamp(int i) => Math.Clamp(i < 0 ? count + i : i, 0, count);
            var start = Clamp(from ?? 0);
            var end = Clamp(to ?? count);
            return (start, Math.Max(0, end - start));
        }
    }

    private sealed class Function(string name, Expr? argument) : Expr
    {
        public override JsonNode? Eval(JsonNode? input)
        {
            var arg = argument is null ? null : Text(argument.Eval(input), name);
            return name switch
            {
                "tostring" => input is JsonValue v && v.TryGetValue<string>(out var s) ? JsonValue.Create(s) : JsonValue.Create(input?.ToJsonString() ?? "null"),
                "tonumber" => input is JsonValue n && n.TryGetValue<string>(out var t)
                    ? double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? Number(d) : throw new JqException($"cannot parse '{t}' as a number.")
                    : JsonValue.Create(Num(input, name)),
                "ascii_downcase" => JsonValue.Create(Ascii(Text(input, name), char.ToLowerInvariant)),
                "ascii_upcase" => JsonValue.Create(Ascii(Text(input, name), char.ToUpperInvariant)),
                "length" => input switch
                {
                    null => JsonValue.Create(0),
                    JsonArray a => JsonValue.Create(a.Count),
                    JsonObject o => JsonValue.Create(o.Count),
                    JsonValue v when v.TryGetValue<string>(out var s) => JsonValue.Create(s.Length),
                    _ => Number(Math.Abs(Num(input, name))),
                },
                "floor" => Number(Math.Floor(Num(input, name))),
                "todate" => JsonValue.Create(Strftime(Num(input, name), "%Y-%m-%dT%H:%M:%SZ")),
                "strftime" => JsonValue.Create(Strftime(Num(input, name), arg!)),
                "split" => new JsonArray([.. Text(input, name).Split(arg!).Select(p => (JsonNode?)JsonValue.Create(p))]),
                "join" => JsonValue.Create(string.Join(arg!, (input as JsonArray ?? throw new JqException("join needs an array.")).Select(x => x is null ? "" : Text(x, name)))),
                "ltrimstr" => JsonValue.Create(Text(input, name) is var l && l.StartsWith(arg!, StringComparison.Ordinal) ? l[arg!.Length..] : l),
                "rtrimstr" => JsonValue.Create(Text(input, name) is var r && r.EndsWith(arg!, StringComparison.Ordinal) ? r[..^arg!.Length] : r),
                _ => throw new JqException($"{name} is not a supported function."),
            };
        }
    }

    private static readonly Dictionary<string, bool> Functions = new(StringComparer.Ordinal)
    {
        // name -> whether it takes one argument
        ["tostring"] = false, ["tonumber"] = false, ["ascii_downcase"] = false, ["ascii_upcase"] = false, ["length"] = false,
        ["floor"] = false, ["todate"] = false, ["strftime"] = true, ["split"] = true, ["join"] = true, ["ltrimstr"] = true, ["rtrimstr"] = true,
    };

    private static JsonNode Number(double d) => d == Math.Floor(d) && Math.Abs(d) < 1e15 ? JsonValue.Create((long)d) : JsonValue.Create(d);

    private static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v when v.TryGetValue<string>(out _) => "a string",
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "a number",
    };

    private static string Text(JsonNode? node, string function) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new JqException($"{function} needs a string, got {Kind(node)}.");

    private static double Num(JsonNode? node, string function) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.GetValue<double>() : throw new JqException($"{function} needs a number, got {Kind(node)}.");

    private static string Ascii(string s, Func<char, char> map) => string.Concat(s.Select(c => c < 128 ? map(c) : c));

    /// <summary>C's strftime over epoch seconds in UTC, for the conversions jq users put into keys.</summary>
    private static string Strftime(double epochSeconds, string format)
    {
        var t = DateTime.UnixEpoch.AddTicks((long)(epochSeconds * TimeSpan.TicksPerSecond));
        var b = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length)
            {
                b.Append(format[i]);
                continue;
            }
            var c = format[++i];
            b.Append(c switch
            {
                'Y' => t.ToString("yyyy", CultureInfo.InvariantCulture),
                'y' => t.ToString("yy", CultureInfo.InvariantCulture),
                'm' => t.ToString("MM", CultureInfo.InvariantCulture),
                'd' => t.ToString("dd", CultureInfo.InvariantCulture),
                'e' => t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'H' => t.ToString("HH", CultureInfo.InvariantCulture),
                'I' => t.ToString("hh", CultureInfo.InvariantCulture),
                'M' => t.ToString("mm", CultureInfo.InvariantCulture),
                'S' => t.ToString("ss", CultureInfo.InvariantCulture),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => t.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                'a' => t.ToString("ddd", CultureInfo.InvariantCulture),
                'A' => t.ToString("dddd", CultureInfo.InvariantCulture),
                'b' or 'h' => t.ToString("MMM", CultureInfo.InvariantCulture),
                'B' => t.ToString("MMMM", CultureInfo.InvariantCulture),
                'F' => t.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                'T' => t.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                'Z' => "UTC",
                'z' => "+0000",
                's' => ((long)Math.Floor(epochSeconds)).ToString(CultureInfo.InvariantCulture),
                '%' => "%",
                _ => throw new JqException($"%{c} is not a supported strftime conversion."),
            });
        }
        return b.ToString();
    }

    private sealed class Parser(string text)
    {
        private int _i;

        public bool AtEnd => _i >= text.Length;
        public string Rest => text[_i..];

        public void Skip()
        {
            while (_i < text.Length && char.IsWhiteSpace(text[_i]))
                _i++;
        }

        public bool Take(char c)
        {
            Skip();
            if (_i < text.Length && text[_i] == c)
            {
                _i++;
                return true;
            }
            return false;
        }

        private void Expect(char c)
        {
            if (!Take(c))
                throw new JqException(AtEnd ? $"'{c}' expected at the end." : $"'{c}' expected at '{Rest}'.");
        }

        /// <summary>After '{': entries up to the closing '}'.</summary>
        public Dictionary<string, Expr> ObjectBody()
        {
            var entries = new Dictionary<string, Expr>(StringComparer.Ordinal);
            if (Take('}'))
                return entries;
            do
            {
                Skip();
                var name = Peek('"') ? StringLiteral() : Identifier() ?? throw new JqException($"a key name expected at '{Rest}'.");
                Expr value = Take(':') ? PipeOf(inObject: true) : new Member(new Identity(), name);
                if (!entries.TryAdd(name, value))
                    throw new JqException($"the key {name} is defined twice.");
            }
            while (Take(','));
            Expect('}');
            return entries;
        }

        private bool Peek(char c)
        {
            Skip();
            return _i < text.Length && text[_i] == c;
        }

        private Expr PipeOf(bool inObject)
        {
            var expr = Postfix();
            while (Take('|'))
                expr = new Pipe(expr, Postfix());
            Skip();
            if (!AtEnd && !(inObject ? Peek(',') || Peek('}') : Peek(')')))
                throw new JqException($"'{Rest}' is not in the supported JQ subset (paths, object construction, pipes and string functions).");
            return expr;
        }

        private Expr Postfix()
        {
            var expr = Primary();
            while (true)
            {
                Skip();
                if (_i + 1 < text.Length && text[_i] == '.' && (IsNameStart(text[_i + 1]) || text[_i + 1] == '"'))
                {
                    _i++;
                    expr = new Member(expr, text[_i] == '"' ? StringLiteral() : Identifier()!);
                }
                else if (_i + 1 < text.Length && text[_i] == '.' && text[_i + 1] == '[')
                {
                    _i++;
                }
                else if (Peek('['))
                {
                    expr = Bracket(expr);
                }
                else
                {
                    return expr;
                }
            }
        }

        private Expr Bracket(Expr target)
        {
            Expect('[');
            Skip();
            if (Peek('"'))
            {
                var name = StringLiteral();
                Expect(']');
                return new Member(target, name);
            }
            var from = Integer();
            if (Take(':'))
            {
                var to = Integer();
                Expect(']');
                return new Slice(target, from, to);
            }
            Expect(']');
            return new Index(target, from ?? throw new JqException("an index, a slice or a quoted name expected in '[...]'."));
        }

        private Expr Primary()
        {
            Skip();
            if (AtEnd)
                throw new JqException("an expression expected at the end.");
            var c = text[_i];
            if (c == '.')
            {
                _i++;
                if (_i < text.Length && (IsNameStart(text[_i]) || text[_i] == '"'))
                    return new Member(new Identity(), text[_i] == '"' ? StringLiteral() : Identifier()!);
                return new Identity();
            }
            if (c == '"')
                return new Literal(JsonValue.Create(StringLiteral()));
            if (c == '(')
            {
                _i++;
                var inner = PipeOf(inObject: false);
                Expect(')');
                return inner;
            }
            if (char.IsAsciiDigit(c) || c == '-')
            {
                var start = _i++;
                while (_i < text.Length && (char.IsAsciiDigit(text[_i]) || text[_i] == '.'))
                    _i++;
                return new Literal(Number(double.Parse(text[start.._i], CultureInfo.InvariantCulture)));
            }
            if (IsNameStart(c))
            {
                var name = Identifier()!;
                if (!Functions.TryGetValue(name, out var takesArgument))
                    throw new JqException($"{name} is not a supported function (supported: {string.Join(", ", Functions.Keys)}).");
                if (!takesArgument)
                    return new Function(name, null);
                Expect('(');
                var argument = PipeOf(inObject: false);
                Expect(')');
                return new Function(name, argument);
            }
            throw new JqException($"'{Rest}' is not in the supported JQ subset.");
        }

        private int? Integer()
        {
            Skip();
            var start = _i;
            if (_i < text.Length && text[_i] == '-')
                _i++;
            while (_i < text.Length && char.IsAsciiDigit(text[_i]))
                _i++;
            return _i == start ? null : int.Parse(text[start.._i], CultureInfo.InvariantCulture);
        }

        private static bool IsNameStart(char c) => char.IsAsciiLetter(c) || c == '_';

        private string? Identifier()
        {
            Skip();
            if (_i >= text.Length || !IsNameStart(text[_i]))
                return null;
            var start = _i;
            while (_i < text.Length && (char.IsAsciiLetterOrDigit(text[_i]) || text[_i] == '_'))
                _i++;
            return text[start.._i];
        }

        private string StringLiteral()
        {
            Skip();
            var start = _i;
            _i++;
            var b = new StringBuilder();
            while (_i < text.Length && text[_i] != '"')
            {
                if (text[_i] == '\\' && _i + 1 < text.Length)
                {
                    _i++;
                    b.Append(text[_i] switch { 'n' => '\n', 't' => '\t', 'r' => '\r', var e => e });
                }
                else
                {
                    b.Append(text[_i]);
                }
                _i++;
            }
            if (_i >= text.Length)
                throw new JqException($"the string starting at position {start} is not closed.");
            _i++;
            return b.ToString();
        }
    }
}
