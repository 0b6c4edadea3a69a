using System.Formats.Cbor;
using System.Text.Json;
using Runnel.Core.Streams;

namespace Runnel.Ingest.Auth;

/// <summary>
/// The ARN a Kinesis request acts on, read from its top-level members: ConsumerARN, then StreamARN, then ResourceARN,
/// then StreamName (made an ARN). Null when the body names none or cannot be read (the operation reports that itself).
/// </summary>
internal static class KinesisResources
{
    private static readonly string[] ResourceMembers = ["ConsumerARN", "StreamARN", "ResourceARN", "StreamName"];

    public static string? Find(ReadOnlySpan<byte> body, WireFormat format, string region, string account)
    {
        var values = Read(body, format, ResourceMembers);
        if (values is null)
            return null;
        return values[0] ?? values[1] ?? values[2] ?? (values[3] is { } name ? Arns.Stream(region, account, name) : null);
    }

    /// <summary>One top-level string member, or null.</summary>
    public static string? Member(ReadOnlySpan<byte> body, WireFormat format, string member) => Read(body, format, [member])?[0];

    /// <summary>The string values of <paramref name="members"/> (null where absent), or null when the body cannot be read.</summary>
    private static string?[]? Read(ReadOnlySpan<byte> body, WireFormat format, string[] members)
    {
        var values = new string?[members.Length];
        try
        {
            if (format == WireFormat.Cbor)
                ReadCbor(body.ToArray(), members, values);
            else
                ReadJson(body, members, values);
        }
        catch (Exception e) when (e is JsonException or CborContentException or InvalidOperationException or FormatException)
        {
            return null;
        }
        return values;
    }

    private static void ReadJson(ReadOnlySpan<byte> body, string[] members, string?[] values)
    {
        var reader = new Utf8JsonReader(body);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            return;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.GetString();
            reader.Read();
            if (reader.TokenType == JsonTokenType.String)
                Take(members, values, member, reader.GetString());
            else
                reader.Skip();
        }
    }

    private static void ReadCbor(byte[] body, string[] members, string?[] values)
    {
        var reader = new CborReader(body, CborConformanceMode.Lax);
        if (reader.PeekState() != CborReaderState.StartMap)
            return;
        reader.ReadStartMap();
        while (reader.PeekState() == CborReaderState.TextString)
        {
            var member = reader.ReadTextString();
            if (reader.PeekState() == CborReaderState.TextString)
                Take(members, values, member, reader.ReadTextString());
            else
                reader.SkipValue();
        }
    }

    private static void Take(string[] members, string?[] values, string? member, string? value)
    {
        var at = Array.IndexOf(members, member);
        if (at >= 0)
            values[at] = value;
    }
}
