using System.Text.Json;
using Runnel.Core.Errors;

namespace Runnel.Firehose.Api;

/// <summary>
/// Reads members of a request object. A member of the wrong JSON type is a SerializationException, as AWS answers;
/// members a structure does not define are refused with InvalidArgumentException, so a misspelt setting is never
/// silently ignored.
/// </summary>
internal static class JsonMembers
{
    public static void OnlyKnown(JsonElement obj, string structure, IReadOnlySet<string> known)
    {
        foreach (var member in obj.EnumerateObject())
        {
            if (!known.Contains(member.Name))
                throw FirehoseErrors.Invalid($"{structure} has no member {member.Name}.");
        }
    }

    public static JsonElement? Object(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Object)
            throw KinesisException.Serialization($"{name} must be a structure.");
        return value;
    }

    public static string? String(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.String)
            throw KinesisException.Serialization($"{name} must be a string.");
        return value.GetString();
    }

    public static long? Integer(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n))
            throw KinesisException.Serialization($"{name} must be an integer.");
        return n;
    }

    public static bool? Boolean(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw KinesisException.Serialization($"{name} must be a boolean."),
        };
    }

    public static IEnumerable<JsonElement> Array(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return [];
        if (value.ValueKind != JsonValueKind.Array)
            throw KinesisException.Serialization($"{name} must be a list.");
        return value.EnumerateArray();
    }

    /// <summary>A blob member: base64 text in JSON (a CBOR byte string arrives as base64 too).</summary>
    public static byte[]? Blob(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind != JsonValueKind.String || !value.TryGetBytesFromBase64(out var bytes))
            throw KinesisException.Serialization($"{name} must be base64-encoded data.");
        return bytes;
    }
}
