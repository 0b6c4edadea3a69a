using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Runnel.Core.Wire;
using Runnel.Firehose.Api;

namespace Runnel.Firehose.Destinations;

/// <summary>
/// An S3 destination (ExtendedS3DestinationConfiguration, or the older S3DestinationConfiguration) with AWS's
/// defaults filled in. Stored as JSON in the delivery stream's row; the bucket is reached through the object store.
/// </summary>
public sealed record S3Destination
{
    public const int DefaultSizeInMBs = 5;
    public const int DefaultIntervalInSeconds = 300;

    public required string RoleArn { get; init; }
    public required string BucketArn { get; init; }
    public string? Prefix { get; init; }
    public string? ErrorOutputPrefix { get; init; }
    public int SizeInMBs { get; init; } = DefaultSizeInMBs;
    public int IntervalInSeconds { get; init; } = DefaultIntervalInSeconds;
    public string CompressionFormat { get; init; } = Compressions.Uncompressed;
    public string? KmsKeyArn { get; init; }
    public string? FileExtension { get; init; }
    public bool LoggingEnabled { get; init; }
    public string? LogGroupName { get; init; }
    public string? LogStreamName { get; init; }
    /// <summary>Whether it was configured as ExtendedS3DestinationConfiguration (described as both shapes then).</summary>
    public bool Extended { get; init; }
    /// <summary>Set when this is the staging location of a PostgreSQL load (RedshiftDestinationConfiguration).</summary>
    public PostgresDestination? Postgres { get; init; }
    /// <summary>ProcessingConfiguration and DynamicPartitioningConfiguration (ExtendedS3 only); null when neither was enabled.</summary>
    public ProcessingSettings? Processing { get; init; }
    /// <summary>
    /// S3BackupMode Enabled (ExtendedS3 only): where the source records are written as they arrived, before any
    /// transformation. Null when Disabled; once enabled it cannot be disabled, as in AWS.
    /// </summary>
    public S3Destination? SourceBackup { get; init; }

    [JsonIgnore]
    public bool Partitioned => Processing?.DynamicPartitioning == true;

    /// <summary>The bucket name of <c>arn:aws:s3:::bucket</c>.</summary>
    [JsonIgnore]
    public string Bucket => BucketArn[(BucketArn.LastIndexOf(':') + 1)..];

    private static readonly Regex BucketArnPattern = new(@"^arn:[^:]*:s3:::[\w\.\-]{1,255}$", RegexOptions.CultureInvariant);
    private static readonly Regex FileExtensionPattern = new(@"^$|^\.[0-9a-z!\-_.*'()]+$", RegexOptions.CultureInvariant);

    private static readonly HashSet<string> PlainMembers =
        ["RoleARN", "BucketARN", "Prefix", "ErrorOutputPrefix", "BufferingHints", "CompressionFormat", "EncryptionConfiguration", "CloudWatchLoggingOptions"];

    private static readonly HashSet<string> ExtendedMembers =
    [
        .. PlainMembers, "ProcessingConfiguration", "S3BackupMode", "S3BackupConfiguration", "DataFormatConversionConfiguration",
        "DynamicPartitioningConfiguration", "FileExtension", "CustomTimeZone",
    ];

    /// <summary>ExtendedS3DestinationUpdate names the backup's settings S3BackupUpdate.</summary>
    private static readonly HashSet<string> ExtendedUpdateMembers = [.. ExtendedMembers.Where(m => m != "S3BackupConfiguration"), "S3BackupUpdate"];

    /// <summary>
    /// Reads a configuration (<paramref name="current"/> null) or an update of <paramref name="current"/>, checking every
    /// member as the API does. Features this deployment does not deliver are refused rather than ignored.
    /// </summary>
    public static S3Destination Read(JsonElement config, bool extended, string structure, S3Destination? current)
    {
        JsonMembers.OnlyKnown(config, structure, !extended ? PlainMembers : current is null ? ExtendedMembers : ExtendedUpdateMembers);
        var role = JsonMembers.String(config, "RoleARN") ?? current?.RoleArn;
        var bucket = JsonMembers.String(config, "BucketARN") ?? current?.BucketArn;
        if (current is null && role is null)
            throw FirehoseErrors.Invalid($"{structure}.RoleARN is required.");
        if (bucket is null)
            throw FirehoseErrors.Invalid($"{structure}.BucketARN is required.");
        if (!BucketArnPattern.IsMatch(bucket))
            throw FirehoseErrors.Invalid($"{structure}.BucketARN '{bucket}' does not match arn:aws:s3:::bucket-name.");
        var d = (current ?? new S3Destination { RoleArn = role!, BucketArn = bucket }) with { RoleArn = role!, BucketArn = bucket, Extended = extended };

        if (config.TryGetProperty("Prefix", out _))
            d = d with { Prefix = Blank(JsonMembers.String(config, "Prefix")) };
        if (config.TryGetProperty("ErrorOutputPrefix", out _))
            d = d with { ErrorOutputPrefix = Blank(JsonMembers.String(config, "ErrorOutputPrefix")) };
        if (d.Prefix?.Length > 1024 || d.ErrorOutputPrefix?.Length > 1024)
            throw FirehoseErrors.Invalid($"{structure}: Prefix and ErrorOutputPrefix are at most 1024 characters.");
        var processing = extended ? ProcessingSettings.Read(config, current?.Processing, creating: current is null) : current?.Processing;
        var prefix = PrefixTemplate.Validate(d.Prefix, d.ErrorOutputPrefix, processing?.DynamicPartitioning == true);

        var (size, interval) = ReadBufferingHints(config, d.SizeInMBs, d.IntervalInSeconds, maxSizeInMBs: 128);
        d = d with { SizeInMBs = size, IntervalInSeconds = interval };
        processing?.Validate(prefix, d.ErrorOutputPrefix, d.SizeInMBs);
        d = d with { Processing = processing };
        if (JsonMembers.String(config, "CompressionFormat") is { } compression)
        {
            if (!Compressions.All.Contains(compression))
                throw FirehoseErrors.Invalid($"CompressionFormat must be one of {string.Join(", ", Compressions.All)}, got '{compression}'.");
            d = d with { CompressionFormat = compression };
        }
        if (JsonMembers.Object(config, "EncryptionConfiguration") is { } encryption)
        {
            JsonMembers.OnlyKnown(encryption, "EncryptionConfiguration", new HashSet<string> { "NoEncryptionConfig", "KMSEncryptionConfig" });
            var kms = JsonMembers.Object(encryption, "KMSEncryptionConfig");
            d = d with { KmsKeyArn = kms is { } k ? JsonMembers.String(k, "AWSKMSKeyARN") ?? throw FirehoseErrors.Invalid("KMSEncryptionConfig.AWSKMSKeyARN is required.") : null };
        }
        d = d.WithLogging(config);
        if (!extended)
            return d;

        if (JsonMembers.String(config, "FileExtension") is { } extension)
        {
            if (extension.Length > 128 || !FileExtensionPattern.IsMatch(extension))
                throw FirehoseErrors.Invalid($"FileExtension '{extension}' must start with '.' and contain only 0-9a-z!-_.*'().");
            d = d with { FileExtension = Blank(extension) };
        }
        if (JsonMembers.String(config, "CustomTimeZone") is { Length: > 0 } zone && zone != "UTC")
            throw FirehoseErrors.Invalid($"CustomTimeZone {zone} is not supported by this deployment; keys are formatted in UTC.");
        d = d with { SourceBackup = ReadSourceBackup(config, structure, current?.SourceBackup) };
        // Object keys depend on the bucket and prefix only (the same records give the same name), so a backup there
        // would overwrite the delivered objects.
        if (d.SourceBackup is { } backup && backup.BucketArn == d.BucketArn && backup.Prefix == d.Prefix)
            throw FirehoseErrors.Invalid($"{structure}: the source record backup needs a bucket or Prefix of its own.");
        if (JsonMembers.Object(config, "DataFormatConversionConfiguration") is { } f && JsonMembers.Boolean(f, "Enabled") == true)
            throw FirehoseErrors.Invalid("DataFormatConversionConfiguration is not supported by this deployment yet.");
        return d;
    }

    /// <summary>A destination's BufferingHints over the current values: SizeInMBs 1..max, IntervalInSeconds 0-900.</summary>
    internal static (int SizeInMBs, int IntervalInSeconds) ReadBufferingHints(JsonElement config, int size, int interval, int maxSizeInMBs)
    {
        if (JsonMembers.Object(config, "BufferingHints") is not { } hints)
            return (size, interval);
        JsonMembers.OnlyKnown(hints, "BufferingHints", new HashSet<string> { "SizeInMBs", "IntervalInSeconds" });
        var newSize = JsonMembers.Integer(hints, "SizeInMBs") ?? size;
        var newInterval = JsonMembers.Integer(hints, "IntervalInSeconds") ?? interval;
        if (newSize < 1 || newSize > maxSizeInMBs)
            throw FirehoseErrors.Invalid($"BufferingHints.SizeInMBs must be between 1 and {maxSizeInMBs}, got {newSize}.");
        if (newInterval is < 0 or > 900)
            throw FirehoseErrors.Invalid($"BufferingHints.IntervalInSeconds must be between 0 and 900, got {newInterval}.");
        return ((int)newSize, (int)newInterval);
    }

    private static string? Blank(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>Applies a CloudWatchLoggingOptions member of <paramref name="config"/>, when there is one.</summary>
    internal S3Destination WithLogging(JsonElement config)
    {
        if (JsonMembers.Object(config, "CloudWatchLoggingOptions") is not { } logging)
            return this;
        JsonMembers.OnlyKnown(logging, "CloudWatchLoggingOptions", new HashSet<string> { "Enabled", "LogGroupName", "LogStreamName" });
        return this with
        {
            LoggingEnabled = JsonMembers.Boolean(logging, "Enabled") ?? false,
            LogGroupName = JsonMembers.String(logging, "LogGroupName"),
            LogStreamName = JsonMembers.String(logging, "LogStreamName"),
        };
    }

    /// <summary>
    /// S3BackupMode and its S3BackupConfiguration (S3BackupUpdate when updating) over the current backup. Enabled needs a
    /// bucket; the settings of an enabled backup can be changed, but it cannot be disabled again.
    /// </summary>
    private static S3Destination? ReadSourceBackup(JsonElement config, string structure, S3Destination? current)
    {
        var mode = JsonMembers.String(config, "S3BackupMode");
        if (mode is not (null or "Disabled" or "Enabled"))
            throw FirehoseErrors.Invalid($"S3BackupMode must be Disabled or Enabled, got '{mode}'.");
        var member = config.TryGetProperty("S3BackupUpdate", out _) ? "S3BackupUpdate" : "S3BackupConfiguration";
        var settings = JsonMembers.Object(config, member);
        if (mode == "Disabled" && current is not null)
            throw FirehoseErrors.Invalid($"{structure}.S3BackupMode cannot be changed from Enabled to Disabled.");
        if (mode != "Enabled" && current is null)
        {
            if (settings is not null)
                throw FirehoseErrors.Invalid($"{structure}.{member} is used only with S3BackupMode Enabled.");
            return null;
        }
        if (settings is not { } backup)
            return current ?? throw FirehoseErrors.Invalid($"{structure}.{member} is required when S3BackupMode is Enabled.");
        return Read(backup, extended: false, $"{structure}.{member}", current);
    }

    /// <summary>Source-record backup of destinations other than ExtendedS3: only S3BackupMode Disabled is accepted.</summary>
    internal static void RefuseBackup(JsonElement config)
    {
        if (JsonMembers.String(config, "S3BackupMode") is { } backup && backup != "Disabled")
            throw FirehoseErrors.Invalid(backup == "Enabled"
                ? "S3BackupMode Enabled is not supported by this deployment yet."
                : $"S3BackupMode must be Disabled or Enabled, got '{backup}'.");
        if (JsonMembers.Object(config, "S3BackupConfiguration") is not null)
            throw FirehoseErrors.Invalid("S3BackupConfiguration is not supported by this deployment yet.");
    }

    /// <summary>Writes the S3DestinationDescription (or ExtendedS3DestinationDescription) members.</summary>
    public void Describe(WireWriter w, bool extended)
    {
        w.String("RoleARN", RoleArn);
        w.String("BucketARN", BucketArn);
        if (Prefix is not null)
            w.String("Prefix", Prefix);
        if (ErrorOutputPrefix is not null)
            w.String("ErrorOutputPrefix", ErrorOutputPrefix);
        w.StartObject("BufferingHints");
        w.Number("SizeInMBs", SizeInMBs);
        w.Number("IntervalInSeconds", IntervalInSeconds);
        w.EndObject();
        w.String("CompressionFormat", CompressionFormat);
        w.StartObject("EncryptionConfiguration");
        if (KmsKeyArn is null)
            w.String("NoEncryptionConfig", "NoEncryption");
        else
        {
            w.StartObject("KMSEncryptionConfig");
            w.String("AWSKMSKeyARN", KmsKeyArn);
            w.EndObject();
        }
        w.EndObject();
        w.StartObject("CloudWatchLoggingOptions");
        w.Boolean("Enabled", LoggingEnabled);
        if (LogGroupName is not null)
            w.String("LogGroupName", LogGroupName);
        if (LogStreamName is not null)
            w.String("LogStreamName", LogStreamName);
        w.EndObject();
        if (!extended)
            return;
        w.String("S3BackupMode", SourceBackup is null ? "Disabled" : "Enabled");
        if (SourceBackup is not null)
        {
            w.StartObject("S3BackupDescription");
            SourceBackup.Describe(w, extended: false);
            w.EndObject();
        }
        if (FileExtension is not null)
            w.String("FileExtension", FileExtension);
        Processing?.Describe(w);
    }

    public string ToJson() => JsonSerializer.Serialize(this, DestinationJson.Default.S3Destination);

    public static S3Destination FromJson(string json) =>
        JsonSerializer.Deserialize(json, DestinationJson.Default.S3Destination) ?? throw new InvalidDataException("Empty destination configuration.");
}

public static class Compressions
{
    public const string Uncompressed = "UNCOMPRESSED";
    public const string Gzip = "GZIP";
    public const string Zip = "ZIP";
    public const string Snappy = "Snappy";
    public const string HadoopSnappy = "HADOOP_SNAPPY";

    public static readonly IReadOnlyList<string> All = [Uncompressed, Gzip, Zip, Snappy, HadoopSnappy];

    /// <summary>The object name's extension Firehose adds for a compression.</summary>
    public static string Extension(string format) => format switch
    {
        Gzip => ".gz",
        Zip => ".zip",
        Snappy => ".snappy",
        HadoopSnappy => ".hsnappy",
        _ => "",
    };
}

[JsonSerializable(typeof(S3Destination))]
internal sealed partial class DestinationJson : JsonSerializerContext;
