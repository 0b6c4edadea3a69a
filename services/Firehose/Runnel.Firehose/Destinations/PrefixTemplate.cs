using System.Globalization;
using System.Text;
using Runnel.Core.Errors;

namespace Runnel.Firehose.Destinations;

/// <summary>
/// A Prefix or ErrorOutputPrefix with Firehose's <c>!{namespace:value}</c> expressions: <c>timestamp</c> (a Java
/// DateTimeFormatter pattern over the arrival time of the oldest record in the object, UTC),
/// <c>firehose:random-string</c> (11 characters) and, in error prefixes only, <c>firehose:error-output-type</c>.
/// With dynamic partitioning, <c>partitionKeyFromQuery:name</c> and <c>partitionKeyFromLambda:name</c> in Prefix are the
/// record's partition keys.
/// </summary>
public sealed class PrefixTemplate
{
    /// <summary>Neither prefix may be longer than this after evaluation.</summary>
    public const int MaxEvaluatedLength = 512;

    /// <summary>Length of <c>!{firehose:random-string}</c>'s value.</summary>
    public const int RandomStringLength = 11;

    private abstract record Part;
    private sealed record Literal(string Text) : Part;
    private sealed record Timestamp(string Format) : Part;
    private sealed record RandomString : Part;
    private sealed record ErrorOutputType : Part;
    private sealed record PartitionKey(bool FromLambda, string Name) : Part;

    private readonly List<Part> _parts;

    private PrefixTemplate(List<Part> parts) => _parts = parts;

    public bool HasExpressions => _parts.Any(p => p is not Literal);
    public bool HasTimestamp => _parts.Any(p => p is Timestamp);
    public bool HasErrorOutputType => _parts.Any(p => p is ErrorOutputType);
    public bool HasPartitionKeys => _parts.Any(p => p is PartitionKey);
    public IEnumerable<string> QueryKeys => _parts.OfType<PartitionKey>().Where(p => !p.FromLambda).Select(p => p.Name);
    public IEnumerable<string> LambdaKeys => _parts.OfType<PartitionKey>().Where(p => p.FromLambda).Select(p => p.Name);

    /// <summary>Parses a prefix; <paramref name="member"/> names it in the error (Prefix or ErrorOutputPrefix).</summary>
    public static PrefixTemplate Parse(string text, string member, bool partitioned = false)
    {
        var parts = new List<Part>();
        var literal = new StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            var open = text.IndexOf("!{", i, StringComparison.Ordinal);
            if (open < 0)
            {
                literal.Append(text, i, text.Length - i);
                break;
            }
            literal.Append(text, i, open - i);
            var close = text.IndexOf('}', open + 2);
            if (close < 0)
                throw Invalid(member, $"The expression starting at position {open} is not closed with '}}'.");
            var expression = text[(open + 2)..close];
            var colon = expression.IndexOf(':');
            if (colon <= 0)
                throw Invalid(member, $"'!{{{expression}}}' is not of the form !{{namespace:value}}.");
            var ns = expression[..colon];
            var value = expression[(colon + 1)..];
            Part part = ns switch
            {
                "timestamp" => new Timestamp(JavaDateFormat.ToDotNet(value, member)),
                "firehose" when value == "random-string" => new RandomString(),
                "firehose" when value == "error-output-type" => new ErrorOutputType(),
                "firehose" => throw Invalid(member, $"'{value}' is not a value of the firehose namespace (random-string, error-output-type)."),
                "partitionKeyFromQuery" or "partitionKeyFromLambda" when partitioned && member == "Prefix" && value.Length > 0 =>
                    new PartitionKey(ns == "partitionKeyFromLambda", value),
                "partitionKeyFromQuery" or "partitionKeyFromLambda" when member != "Prefix" =>
                    throw Invalid(member, $"The {ns} namespace may be used only in Prefix."),
                "partitionKeyFromQuery" or "partitionKeyFromLambda" =>
                    throw Invalid(member, $"The {ns} namespace needs dynamic partitioning, which is not enabled for this delivery stream."),
                _ => throw Invalid(member, $"'{ns}' is not a known namespace (timestamp, firehose, partitionKeyFromQuery, partitionKeyFromLambda)."),
            };
            if (literal.Length > 0)
            {
                parts.Add(new Literal(literal.ToString()));
                literal.Clear();
            }
            parts.Add(part);
            i = close + 1;
        }
        if (literal.Length > 0)
            parts.Add(new Literal(literal.ToString()));
        return new PrefixTemplate(parts);
    }

    /// <summary>
    /// Checks the pair as Firehose does: Prefix never names the error output type; ErrorOutputPrefix may be missing
    /// only when Prefix has no expressions, and when it has expressions one of them is the error output type.
    /// </summary>
    public static PrefixTemplate Validate(string? prefix, string? errorOutputPrefix, bool partitioned = false)
    {
        var p = Parse(prefix ?? "", "Prefix", partitioned);
        if (p.HasErrorOutputType)
            throw Invalid("Prefix", "!{firehose:error-output-type} may be used only in ErrorOutputPrefix.");
        if (p.HasExpressions && string.IsNullOrEmpty(errorOutputPrefix))
            throw Invalid("ErrorOutputPrefix", "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions.");
        if (errorOutputPrefix is { Length: > 0 })
        {
            var e = Parse(errorOutputPrefix, "ErrorOutputPrefix");
            if (e.HasExpressions && !e.HasErrorOutputType)
                throw Invalid("ErrorOutputPrefix", "ErrorOutputPrefix with expressions must contain !{firehose:error-output-type}.");
        }
        return p;
    }

    /// <summary>
    /// The key prefix of a delivered object. A prefix without a timestamp expression gets <c>yyyy/MM/dd/HH/</c> appended
    /// (an unset prefix is only that). Each random string is the next of <paramref name="randomStrings"/>, which the
    /// caller derives from the object's source positions so that a replayed object gets the same key. A prefix with
    /// partition keys takes their values from <paramref name="partitionKeys"/> and gets no timestamp appended.
    /// </summary>
    public string Evaluate(DateTimeOffset oldestArrival, Func<string> randomStrings, string? errorOutputType = null, PartitionValues? partitionKeys = null)
    {
        var at = oldestArrival.UtcDateTime;
        var builder = new StringBuilder();
        foreach (var part in _parts)
        {
            switch (part)
            {
                case Literal l:
                    builder.Append(l.Text);
                    break;
                case Timestamp t:
                    builder.Append(at.ToString(t.Format, CultureInfo.InvariantCulture));
                    break;
                case RandomString:
                    builder.Append(randomStrings());
                    break;
                case ErrorOutputType:
                    builder.Append(errorOutputType);
                    break;
                case PartitionKey k:
                    builder.Append(partitionKeys?.Get(k.FromLambda, k.Name));
                    break;
            }
        }
        if (!HasTimestamp && !HasPartitionKeys)
            builder.Append(at.ToString("yyyy'/'MM'/'dd'/'HH'/'", CultureInfo.InvariantCulture));
        return builder.ToString();
    }

    internal static KinesisException Invalid(string member, string reason) =>
        new(FirehoseErrors.InvalidArgument, $"{member} is not valid: {reason}");
}

/// <summary>
/// The part of Java's DateTimeFormatter pattern language that names calendar fields, turned into a .NET custom format:
/// y, M, d, H, h, m, s, S (fraction), D (day of year, formatted by hand), a, E and quoted literals.
/// </summary>
/// <summary>A record's partition keys: those its MetadataExtractionQuery extracted and those the Lambda returned.</summary>
public sealed record PartitionValues(IReadOnlyDictionary<string, string> FromQuery, IReadOnlyDictionary<string, string> FromLambda)
{
    public string? Get(bool fromLambda, string name) => (fromLambda ? FromLambda : FromQuery).GetValueOrDefault(name);
}

internal static class JavaDateFormat
{
    public static string ToDotNet(string pattern, string member)
    {
        if (pattern.Length == 0)
            throw PrefixTemplate.Invalid(member, "!{timestamp:} needs a pattern.");
        var output = new StringBuilder();
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i];
            if (c == '\'')
            {
                var end = pattern.IndexOf('\'', i + 1);
                if (end < 0)
                    throw PrefixTemplate.Invalid(member, $"The quote at position {i} of '{pattern}' is not closed.");
                var text = end == i + 1 ? "'" : pattern[(i + 1)..end];
                AppendLiteral(output, text);
                i = end + 1;
                continue;
            }
            var run = 1;
            while (i + run < pattern.Length && pattern[i + run] == c)
                run++;
            if (char.IsAsciiLetter(c))
                output.Append(Field(c, run, pattern, member));
            else
                AppendLiteral(output, new string(c, run));
            i += run;
        }
        return output.ToString();
    }

    private static string Field(char c, int run, string pattern, string member) => c switch
    {
        'y' or 'u' => run == 2 ? "yy" : "yyyy",
        'M' when run <= 2 => new string('M', run),
        'M' => run == 3 ? "MMM" : "MMMM",
        'd' when run <= 2 => new string('d', run),
        'H' when run <= 2 => new string('H', run),
        'h' when run <= 2 => new string('h', run),
        'm' when run <= 2 => new string('m', run),
        's' when run <= 2 => new string('s', run),
        'S' when run <= 7 => new string('f', run),
        'a' when run == 1 => "tt",
        'E' => run <= 3 ? "ddd" : "dddd",
        'D' => throw PrefixTemplate.Invalid(member, $"Day of year (D) in '{pattern}' is not supported; use M and d."),
        _ => throw PrefixTemplate.Invalid(member, $"'{new string(c, run)}' in '{pattern}' is not a supported date-time field."),
    };

    private static void AppendLiteral(StringBuilder output, string text)
    {
        foreach (var ch in text)
        {
            if (ch == '\'' || ch == '\\' || ch == '"' || ch == '%' || char.IsAsciiLetter(ch) || ch == ':' || ch == '/')
                output.Append('\\');
            output.Append(ch);
        }
    }
}
