using System.Text;
using System.Text.RegularExpressions;

namespace Runnel.Analytics.Sql;

/// <summary>
/// Evaluates bound expressions over a row (object?[] in the source stream's column order, ROWTIME first). In a
/// grouped query, aggregate calls read their final values from <c>aggregates</c> by their AggregateIndex.
/// </summary>
internal static class Evaluator
{
    public static readonly HashSet<string> Aggregates = ["COUNT", "SUM", "AVG", "MIN", "MAX"];

    public static readonly HashSet<string> Scalars =
    [
        "ABS", "UPPER", "LOWER", "TRIM", "CHAR_LENGTH", "CHARACTER_LENGTH", "SUBSTRING", "COALESCE", "ROUND", "CEIL", "FLOOR",
        "POWER", "SQRT", "LN", "LOG10", "EXP", "MOD", "CURRENT_ROW_TIMESTAMP", "CURRENT_TIMESTAMP", "LOCALTIMESTAMP",
        "NULLIF", "INITCAP",
    ];

    public static object? Eval(Expr e, object?[] row, object?[]? aggregates = null)
    {
        switch (e)
        {
            case LiteralExpr l:
                return l.Value;
            case ColumnExpr c:
                return row[c.Index];
            case UnaryExpr u:
            {
                var v = Eval(u.Operand, row, aggregates);
                if (v is null)
                    return null;
                return u.Op == "NOT"
                    ? !AsBool(v)
                    : v switch
                    {
                        long n => -n,
                        double d => -d,
                        TimeSpan s => -s,
                        _ => throw new SqlRuntimeException($"Cannot negate {Values.Describe(v)}."),
                    };
            }
            case BinaryExpr b:
                return Binary(b, row, aggregates);
            case CallExpr call when call.AggregateIndex >= 0:
                return aggregates![call.AggregateIndex];
            case CallExpr call when Binder.WindowFunctions.ContainsKey(call.Name):
                // A group window's results end with its start and end (see Pump.EmitGroup).
                return aggregates is null
                    ? throw new InvalidOperationException($"{call.Name} outside a window's results.")
                    : aggregates[aggregates.Length - (call.Name.EndsWith("_END", StringComparison.Ordinal) ? 1 : 2)];
            case CallExpr call:
                return Call(call, row, aggregates);
            case StepExpr s:
            {
                var v = Eval(s.Value, row, aggregates);
                if (v is null)
                    return null;
                var t = (DateTime)Values.Coerce(v, SqlKind.Timestamp)!;
                return new DateTime(t.Ticks - (t.Ticks % s.Width.Ticks), DateTimeKind.Utc);
            }
            case TruncateExpr t:
            {
                var v = Eval(t.Value, row, aggregates);
                if (v is null)
                    return null;
                var time = (DateTime)Values.Coerce(v, SqlKind.Timestamp)!;
                var unit = Values.UnitLength(t.Unit)!.Value.Ticks;
                var floor = time.Ticks - (time.Ticks % unit);
                return new DateTime(t.Ceiling && floor != time.Ticks ? floor + unit : floor, DateTimeKind.Utc);
            }
            case CastExpr c:
                return Values.Coerce(Eval(c.Value, row, aggregates), c.Kind);
            case CaseExpr c:
            {
                var operand = c.Operand is null ? null : Eval(c.Operand, row, aggregates);
                foreach (var (when, then) in c.Whens)
                {
                    var w = Eval(when, row, aggregates);
                    var hit = c.Operand is null ? w is not null && AsBool(w) : Values.Compare(operand, w) == 0;
                    if (hit)
                        return Eval(then, row, aggregates);
                }
                return c.Otherwise is null ? null : Eval(c.Otherwise, row, aggregates);
            }
            case IsNullExpr n:
                return (Eval(n.Value, row, aggregates) is null) != n.Negated;
            case LikeExpr l:
            {
                var v = Eval(l.Value, row, aggregates);
                var p = Eval(l.Pattern, row, aggregates);
                if (v is null || p is null)
                    return null;
                return Like(Values.Coerce(v, SqlKind.Varchar)!.ToString()!, p.ToString()!) != l.Negated;
            }
            case BetweenExpr b:
            {
                var v = Eval(b.Value, row, aggregates);
                var lo = Values.Compare(v, Eval(b.Low, row, aggregates));
                var hi = Values.Compare(v, Eval(b.High, row, aggregates));
                if (lo is null || hi is null)
                    return null;
                return (lo >= 0 && hi <= 0) != b.Negated;
            }
            case InExpr i:
            {
                var v = Eval(i.Value, row, aggregates);
                if (v is null)
                    return null;
                var found = i.Items.Any(item => Values.Compare(v, Eval(item, row, aggregates)) == 0);
                return found != i.Negated;
            }
            default:
                throw new InvalidOperationException($"Unbound expression {e.GetType().Name}.");
        }
    }

    public static bool AsBool(object v) => v is bool b ? b : throw new SqlRuntimeException($"{Values.Describe(v)} is not a boolean.");

    /// <summary>True only for TRUE: a NULL condition filters the row out, as in SQL.</summary>
    public static bool IsTrue(Expr e, object?[] row, object?[]? aggregates = null) => Eval(e, row, aggregates) is true;

    private static object? Binary(BinaryExpr b, object?[] row, object?[]? aggregates)
    {
        if (b.Op is "AND" or "OR")
        {
            var l = Eval(b.Left, row, aggregates);
            if (b.Op == "AND" && l is false)
                return false;
            if (b.Op == "OR" && l is true)
                return true;
            var r = Eval(b.Right, row, aggregates);
            if (l is null || r is null)
                return b.Op == "AND" ? (r is false ? false : null) : (r is true ? true : null);
            return b.Op == "AND" ? AsBool(l) && AsBool(r) : AsBool(l) || AsBool(r);
        }
        var left = Eval(b.Left, row, aggregates);
        var right = Eval(b.Right, row, aggregates);
        if (left is null || right is null)
            return null;
        switch (b.Op)
        {
            case "=":
                return Values.Compare(left, right) == 0;
            case "<>":
                return Values.Compare(left, right) != 0;
            case "<":
                return Values.Compare(left, right) < 0;
            case "<=":
                return Values.Compare(left, right) <= 0;
            case ">":
                return Values.Compare(left, right) > 0;
            case ">=":
                return Values.Compare(left, right) >= 0;
            case "||":
                return Values.Coerce(left, SqlKind.Varchar) + (string?)Values.Coerce(right, SqlKind.Varchar);
        }
        if (left is DateTime t && right is TimeSpan s)
            return b.Op switch { "+" => t + s, "-" => t - s, _ => throw new SqlRuntimeException($"Cannot apply {b.Op} to a timestamp.") };
        if (left is DateTime t1 && right is DateTime t2 && b.Op == "-")
            return t1 - t2;
        if (left is long x && right is long y)
        {
            return b.Op switch
            {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "/" => y == 0 ? throw new SqlRuntimeException("Division by zero.") : x / y,
                "%" => y == 0 ? throw new SqlRuntimeException("Division by zero.") : x % y,
                _ => throw new InvalidOperationException(b.Op),
            };
        }
        var dl = Values.ToDouble(left);
        var dr = Values.ToDouble(right);
        return b.Op switch
        {
            "+" => dl + dr,
            "-" => dl - dr,
            "*" => dl * dr,
            "/" => dr == 0 ? throw new SqlRuntimeException("Division by zero.") : dl / dr,
            "%" => dl % dr,
            _ => throw new InvalidOperationException(b.Op),
        };
    }

    private static object? Call(CallExpr call, object?[] row, object?[]? aggregates)
    {
        var args = new object?[call.Args.Count];
        for (var i = 0; i < args.Length; i++)
            args[i] = Eval(call.Args[i], row, aggregates);
        switch (call.Name)
        {
            case "COALESCE":
                return args.FirstOrDefault(a => a is not null);
            case "NULLIF":
                return Values.Compare(args[0], args[1]) == 0 ? null : args[0];
            case "CURRENT_ROW_TIMESTAMP":
                return row[0];
            case "CURRENT_TIMESTAMP" or "LOCALTIMESTAMP":
                return DateTime.UtcNow;
        }
        if (args.Any(a => a is null))
            return null;
        switch (call.Name)
        {
            case "ABS":
                return args[0] is long l ? Math.Abs(l) : Math.Abs(Values.ToDouble(args[0]!));
            case "UPPER":
                return Str(args[0]).ToUpperInvariant();
            case "LOWER":
                return Str(args[0]).ToLowerInvariant();
            case "INITCAP":
                return System.Globalization.CultureInfo.InvariantCulture.TextInfo.ToTitleCase(Str(args[0]).ToLowerInvariant());
            case "TRIM":
                return Str(args[0]).Trim();
            case "CHAR_LENGTH" or "CHARACTER_LENGTH":
                return (long)Str(args[0]).Length;
            case "SUBSTRING":
            {
                var s = Str(args[0]);
                var start = Math.Max(1, (long)Values.Coerce(args[1], SqlKind.Integer)!) - 1;
                if (start >= s.Length)
                    return "";
                var length = args.Length > 2 ? (long)Values.Coerce(args[2], SqlKind.Integer)! : s.Length - start;
                return s.Substring((int)start, (int)Math.Min(Math.Max(0, length), s.Length - start));
            }
            case "ROUND":
            {
                var digits = args.Length > 1 ? (int)(long)Values.Coerce(args[1], SqlKind.Integer)! : 0;
                return args[0] is long n && digits >= 0 ? n : Math.Round(Values.ToDouble(args[0]!), Math.Clamp(digits, 0, 15), MidpointRounding.AwayFromZero);
            }
            case "CEIL":
                return args[0] is long c ? c : Math.Ceiling(Values.ToDouble(args[0]!));
            case "FLOOR":
                return args[0] is long f ? f : Math.Floor(Values.ToDouble(args[0]!));
            case "POWER":
                return Math.Pow(Values.ToDouble(args[0]!), Values.ToDouble(args[1]!));
            case "SQRT":
                return Math.Sqrt(Values.ToDouble(args[0]!));
            case "LN":
                return Math.Log(Values.ToDouble(args[0]!));
            case "LOG10":
                return Math.Log10(Values.ToDouble(args[0]!));
            case "EXP":
                return Math.Exp(Values.ToDouble(args[0]!));
            case "MOD":
                return args[0] is long a && args[1] is long m ? (m == 0 ? throw new SqlRuntimeException("Division by zero.") : a % m) : Values.ToDouble(args[0]!) % Values.ToDouble(args[1]!);
            default:
                throw new InvalidOperationException($"Unbound function {call.Name}.");
        }
    }

    private static string Str(object? v) => (string)Values.Coerce(v, SqlKind.Varchar)!;

    private static readonly Dictionary<string, Regex> Patterns = [];

    /// <summary>% matches any run of characters and _ any one character; everything else matches itself.</summary>
    public static bool Like(string value, string pattern)
    {
        Regex? regex;
        lock (Patterns)
        {
            if (!Patterns.TryGetValue(pattern, out regex))
            {
                var sb = new StringBuilder("^");
                foreach (var ch in pattern)
                    sb.Append(ch switch { '%' => ".*", '_' => ".", _ => Regex.Escape(ch.ToString()) });
                sb.Append('$');
                regex = new Regex(sb.ToString(), RegexOptions.Singleline | RegexOptions.CultureInvariant);
                if (Patterns.Count < 1000)
                    Patterns[pattern] = regex;
            }
        }
        return regex.IsMatch(value);
    }
}

/// <summary>The running state of one aggregate call within one group.</summary>
internal sealed class AggregateState
{
    public long Count;
    public double Sum;
    public long IntegerSum;
    public bool AllIntegers = true;
    public object? Extreme;
    /// <summary>Of a DISTINCT aggregate: every value taken, so each counts once.</summary>
    public HashSet<object>? Seen;

    /// <summary>Fresh states for a group's aggregate calls.</summary>
    public static AggregateState[] For(IReadOnlyList<CallExpr> calls)
    {
        var states = new AggregateState[calls.Count];
        for (var i = 0; i < states.Length; i++)
            states[i] = new AggregateState { Seen = calls[i].Distinct ? [] : null };
        return states;
    }

    public void Add(string function, object? value, bool star)
    {
        if (star)
        {
            Count++;
            return;
        }
        if (value is null || (Seen is not null && !Seen.Add(value)))
            return;
        Count++;
        switch (function)
        {
            case "SUM" or "AVG":
                if (value is long l && AllIntegers)
                {
                    IntegerSum += l;
                }
                else
                {
                    if (AllIntegers)
                    {
                        Sum = IntegerSum;
                        AllIntegers = false;
                    }
                    Sum += Values.ToDouble(value);
                }
                break;
            case "MIN":
                if (Extreme is null || Values.Compare(value, Extreme) < 0)
                    Extreme = value;
                break;
            case "MAX":
                if (Extreme is null || Values.Compare(value, Extreme) > 0)
                    Extreme = value;
                break;
        }
    }

    /// <summary>Takes in another group's state of the same call (two session windows joined by a row between them).</summary>
    public void Merge(string function, AggregateState other)
    {
        if (Seen is not null)
        {
            foreach (var v in other.Seen ?? [])
                Add(function, v, star: false);
            return;
        }
        Count += other.Count;
        if (AllIntegers && other.AllIntegers)
        {
            IntegerSum += other.IntegerSum;
        }
        else
        {
            Sum = (AllIntegers ? IntegerSum : Sum) + (other.AllIntegers ? other.IntegerSum : other.Sum);
            AllIntegers = false;
        }
        if (other.Extreme is not null && (Extreme is null
            || (function == "MIN" && Values.Compare(other.Extreme, Extreme) < 0)
            || (function == "MAX" && Values.Compare(other.Extreme, Extreme) > 0)))
            Extreme = other.Extreme;
    }

    public object? Result(string function) => function switch
    {
        "COUNT" => Count,
        "SUM" => Count == 0 ? null : AllIntegers ? IntegerSum : Sum,
        "AVG" => Count == 0 ? null : (AllIntegers ? IntegerSum : Sum) / Count,
        _ => Extreme,
    };
}
