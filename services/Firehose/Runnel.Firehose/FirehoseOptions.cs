using System.ComponentModel.DataAnnotations;

namespace Runnel.Firehose;

/// <summary>Bound from the <c>Firehose</c> section and validated on start.</summary>
public sealed class FirehoseOptions
{
    public const string Section = "Firehose";

    /// <summary>Default buffering size hint; the Firehose API accepts 1 to 128 MiB.</summary>
    [Range(1, 128)]
    public int BufferSizeMiB { get; set; } = 5;

    /// <summary>Default buffering interval; the Firehose API accepts 0 to 900 s.</summary>
    [Range(0, 900)]
    public int BufferIntervalSeconds { get; set; } = 300;
}
