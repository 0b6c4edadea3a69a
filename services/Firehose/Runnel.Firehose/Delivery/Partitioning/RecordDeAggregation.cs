using System.Text.Json;

namespace Runnel.Firehose.Delivery.Partitioning;

/// <summary>
/// The RecordDeAggregation processor: splits a record that holds several into its sub-records before they are
/// partitioned. JSON: consecutive JSON values (<c>{"a":1}{"a":2}</c>, or one a line), each kept as its exact bytes.
/// DELIMITED: the parts between occurrences of the delimiter (configured as base64); empty parts are left out.
/// </summary>
public static class RecordDeAggregation
{
    public const string Json = "JSON";
    public const string Delimited = "DELIMITED";

    public static bool TryDecodeDelimiter(string base64, out byte[] delimiter)
    {
        try
        {
            delimiter = Convert.FromBase64String(base64);
            return delimiter.Length > 0;
        }
        catch (FormatException)
        {
            delimiter = [];
            return false;
        }
    }

    /// <summary>The sub-records of <paramref name="record"/>; <see cref="FormatException"/> when JSON sub-records do not parse.</summary>
    public static List<byte[]> Split(byte[] record, string type, string? delimiter) =>
        type == Json ? SplitJson(record) : SplitDelimited(record, TryDecodeDelimiter(delimiter ?? "", out var d) ? d : throw new FormatException("The delimiter is not base64."));

    private static List<byte[]> SplitJson(byte[] record)
    {
        var parts = new List<byte[]>();
        var reader = new Utf8JsonReader(record, new JsonReaderOptions { AllowMultipleValues = true });
        try
        {
            while (reader.Read())
            {
                var start = reader.TokenStartIndex;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    reader.Skip();
                parts.Add(record[(int)start..(int)reader.BytesConsumed]);
            }
        }
        catch (JsonException e)
        {
            throw new FormatException($"The record is not a sequence of JSON values: {e.Message}");
        }
        return parts;
    }

    private static List<byte[]> SplitDelimited(byte[] record, byte[] delimiter)
    {
        var parts = new List<byte[]>();
        var rest = record.AsSpan();
        while (true)
        {
            var at = rest.IndexOf(delimiter);
            var part = at < 0 ? rest : rest[..at];
            if (part.Length > 0)
                parts.Add(part.ToArray());
            if (at < 0)
                return parts;
            rest = rest[(at + delimiter.Length)..];
        }
    }
}
