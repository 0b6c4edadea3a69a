namespace Runnel.FanOut;

/// <summary>A type in this assembly for <c>WebApplicationFactory</c>; the global <c>Program</c> type is ambiguous across hosts.</summary>
public sealed class FanOutMarker;
