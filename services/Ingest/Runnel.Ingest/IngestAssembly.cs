namespace Runnel.Ingest;

/// <summary>Names this assembly for hosting it in tests (each executable has its own Program type).</summary>
public sealed class IngestAssembly;
