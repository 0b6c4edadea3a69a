using System.Globalization;
using Runnel.Core.Errors;
using Runnel.Core.Streams;

namespace Runnel.Ingest.Protocol;

/// <summary>
/// Collects constraint violations of one request in the service's wording
/// ("Value 'x' at 'streamName' failed to satisfy constraint: ...") and throws them as one
/// ValidationException. The service reports at most ten.
/// </summary>
internal sealed class Violations
{
    private const int MaxReported = 10;
    private List<string>? _items;

    public bool Any => _items is { Count: > 0 };

    public void Add(string path, string? shownValue, string constraint)
    {
        _items ??= [];
        if (_items.Count >= MaxReported)
            return;
        var value = shownValue is null ? "null" : $"'{shownValue}'";
        _items.Add($"Value {value} at '{path}' failed to satisfy constraint: {constraint}");
    }

    public void ThrowIfAny()
    {
        if (_items is { Count: > 0 })
            throw KinesisException.Validation(_items);
    }

    public void NotNull(string path, object? value)
    {
        if (value is null)
            Add(path, null, "Member must not be null");
    }

    public void Length(string path, string? value, int min, int max)
    {
        if (value is null)
            return;
        if (value.Length < min)
            Add(path, value, $"Member must have length greater than or equal to {min}");
        if (value.Length > max)
            Add(path, value, $"Member must have length less than or equal to {max}");
    }

    public void Range(string path, long? value, long min, long max)
    {
        if (value is not { } v)
            return;
        if (v < min)
            Add(path, v.ToString(CultureInfo.InvariantCulture), $"Member must have value greater than or equal to {min}");
        if (v > max)
            Add(path, v.ToString(CultureInfo.InvariantCulture), $"Member must have value less than or equal to {max}");
    }

    public void Pattern(string path, string? value, string pattern, Func<string, bool> matches)
    {
        if (value is not null && !matches(value))
            Add(path, value, $"Member must satisfy regular expression pattern: {pattern}");
    }

    public void Enum(string path, string? value, IReadOnlyList<string> allowed)
    {
        if (value is not null && !allowed.Contains(value))
            Add(path, value, $"Member must satisfy enum value set: [{string.Join(", ", allowed)}]");
    }

    public void BlobLength(string path, int? length, int min, int max)
    {
        if (length is not { } n)
            return;
        var shown = $"java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]";
        if (n < min)
            Add(path, shown, $"Member must have length greater than or equal to {min}");
        if (n > max)
            Add(path, shown, $"Member must have length less than or equal to {max}");
    }

    /// <summary>A list's length, with the list shown as AWS shows it: its members' texts in brackets.</summary>
    public void ListLength(string path, IReadOnlyList<string>? items, int min, int max)
    {
        if (items is null)
            return;
        var n = items.Count;
        if (n >= min && n <= max)
            return;
        var shown = ListText(items);
        if (n < min)
            Add(path, shown, $"Member must have length greater than or equal to {min}");
        if (n > max)
            Add(path, shown, $"Member must have length less than or equal to {max}");
    }

    /// <summary>A map's size, with the map shown as AWS shows it: <c>{key=value, ...}</c>.</summary>
    public void MapLength(string path, IReadOnlyDictionary<string, string>? map, int min, int max)
    {
        if (map is null)
            return;
        var n = map.Count;
        if (n < min)
            Add(path, MapText(map), $"Member must have length greater than or equal to {min}");
        if (n > max)
            Add(path, MapText(map), $"Member must have length less than or equal to {max}");
    }

    public static string ListText(IEnumerable<string> items) => $"[{string.Join(", ", items)}]";

    public static string MapText(IReadOnlyDictionary<string, string> map) =>
        $"{{{string.Join(", ", map.Select(e => $"{e.Key}={e.Value}"))}}}";

    /// <summary>
    /// How AWS's Java front end prints a structure inside a list: its class name and identity hash. The hash
    /// means nothing to a client; a number derived from the position keeps the text stable across calls.
    /// </summary>
    public static IReadOnlyList<string> StructureTexts(string type, int count) =>
        [.. Enumerable.Range(0, count).Select(i => $"com.amazonaws.kinesis.v20131202.{type}@{unchecked((uint)(i + 1) * 2654435761u):x8}")];

    // Shared member rules of the Kinesis API.
    public const string StreamNamePattern = "[a-zA-Z0-9_.-]+";
    public const string StreamArnPattern = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";
    public const string ShardIdPattern = "[a-zA-Z0-9_.-]+";
    public const string SequenceNumberPattern = "0|([1-9]\\d{0,128})";
    public const string HashKeyPattern = "0|([1-9]\\d{0,38})";

    public static bool IsNameLike(string value)
    {
        foreach (var c in value)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
                return false;
        return value.Length > 0;
    }

    public static bool IsStreamArn(string value) => Arns.TryParseStream(value, out var name) && IsNameLike(name) && value.StartsWith("arn:aws", StringComparison.Ordinal);

    public static bool IsHashKeyText(string value)
    {
        if (value.Length is 0 or > 39)
            return false;
        if (value == "0")
            return true;
        if (value[0] is < '1' or > '9')
            return false;
        foreach (var c in value)
            if (c is < '0' or > '9')
                return false;
        return true;
    }

    public void StreamName(string? value, string path = "streamName")
    {
        Length(path, value, 1, 128);
        Pattern(path, value, StreamNamePattern, IsNameLike);
    }

    public void StreamArn(string? value, string path = "streamARN")
    {
        Length(path, value, 1, 2048);
        Pattern(path, value, StreamArnPattern, IsStreamArn);
    }

    public void ShardId(string? value, string path)
    {
        Length(path, value, 1, 128);
        Pattern(path, value, ShardIdPattern, IsNameLike);
    }

    public void SequenceNumber(string? value, string path) =>
        Pattern(path, value, SequenceNumberPattern, Core.Streams.SequenceNumber.IsWellFormed);
}
