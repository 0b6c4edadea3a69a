using System.Formats.Cbor;
using System.Text;
using System.Text.Json;

namespace Runnel.Core.Errors;

/// <summary>
/// Tells a client's malformed body from a fault of ours. The JSON and CBOR libraries report bad input lazily, some of
/// it only when a value is read (a string of invalid UTF-8 or a lone surrogate, an integer beyond 64 bits, a NaN that
/// cannot be written back as JSON), and with general exception types; those are the client's error (400
/// SerializationException) only when thrown by the parsers themselves.
/// </summary>
public static class MalformedInput
{
    public static bool Is(Exception e) =>
        e is JsonException or CborContentException or FormatException or DecoderFallbackException
        || (e is InvalidOperationException or ArgumentException or OverflowException && ThrownBy(e) is { } origin
            && (origin == typeof(JsonDocument).Assembly || origin == typeof(CborReader).Assembly));

    // Exception.Source is not the assembly's plain name for every throw site ("System.Text.Json.Rethrowable").
    private static System.Reflection.Assembly? ThrownBy(Exception e) => e.TargetSite?.DeclaringType?.Assembly;

    /// <summary>UTF-8 that throws on invalid bytes instead of substituting U+FFFD (a key stored with it would not match its own bytes).</summary>
    public static readonly Encoding StrictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Epoch seconds (with a fraction) as a time; false for NaN, infinities and values beyond what a timestamp can
    /// hold (DateTimeOffset ends in the year 9999, 253,402,300,799 s).
    /// </summary>
    public static bool TryEpochSeconds(double seconds, out DateTimeOffset at)
    {
        at = default;
        if (!double.IsFinite(seconds) || seconds < -62_135_596_800d || seconds > 253_402_300_799d)
            return false;
        at = DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000d));
        return true;
    }
}
