using System.Globalization;
using System.Text.Json;
using Runnel.Core.Errors;
using Runnel.Core.Wire;
using Runnel.Firehose.Api;
using Runnel.Firehose.Delivery.Partitioning;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.Firehose.Destinations;

/// <summary>The Lambda processor of a ProcessingConfiguration: an HTTP function named by its URL, as event source mappings name functions.</summary>
public sealed record LambdaProcessor
{
    public const int DefaultNumberOfRetries = 3;
    public const double DefaultBufferSizeInMBs = 1;
    public const int DefaultBufferIntervalInSeconds = 60;

    public required string LambdaArn { get; init; }
    public int NumberOfRetries { get; init; } = DefaultNumberOfRetries;
    public string? RoleArn { get; init; }
    public double BufferSizeInMBs { get; init; } = DefaultBufferSizeInMBs;
    public int BufferIntervalInSeconds { get; init; } = DefaultBufferIntervalInSeconds;
}

/// <summary>
/// ProcessingConfiguration and DynamicPartitioningConfiguration of an S3 destination, with AWS's defaults filled in.
/// Processors run in this order: Lambda, RecordDeAggregation (of the Lambda's output), MetadataExtraction (of each
/// sub-record), AppendDelimiterToRecord.
/// </summary>
public sealed record ProcessingSettings
{
    public const int DefaultPartitioningRetrySeconds = 300;

    public bool Enabled { get; init; }
    public LambdaProcessor? Lambda { get; init; }
    public string? MetadataExtractionQuery { get; init; }
    public string? JsonParsingEngine { get; init; }
    /// <summary>The delimiter as configured (escapes such as <c>\n</c> unexpanded); null when AppendDelimiterToRecord is absent.</summary>
    public string? Delimiter { get; init; }
    /// <summary>RecordDeAggregation's SubRecordType (JSON or DELIMITED); null without that processor.</summary>
    public string? SubRecordType { get; init; }
    /// <summary>RecordDeAggregation's Delimiter for DELIMITED, base64 as configured.</summary>
    public string? SubRecordDelimiter { get; init; }
    public bool DynamicPartitioning { get; init; }
    public int PartitioningRetrySeconds { get; init; } = DefaultPartitioningRetrySeconds;

    /// <summary>The processors that run: nothing happens to records while ProcessingConfiguration is disabled.</summary>
    public bool Active => Enabled && (Lambda is not null || MetadataExtractionQuery is not null || Delimiter is not null || SubRecordType is not null);

    private static readonly HashSet<string> KnownTypes = ["RecordDeAggregation", "Decompression", "CloudWatchLogProcessing", "Lambda", "MetadataExtraction", "AppendDelimiterToRecord"];

    /// <summary>
    /// Reads the two structures of an ExtendedS3 configuration or update over <paramref name="current"/>. Dynamic
    /// partitioning can only be chosen at creation and never turned off (AWS's rule).
    /// </summary>
    public static ProcessingSettings? Read(JsonElement config, ProcessingSettings? current, bool creating)
    {
        var p = current ?? new ProcessingSettings();
        if (JsonMembers.Object(config, "DynamicPartitioningConfiguration") is { } dp)
        {
            JsonMembers.OnlyKnown(dp, "DynamicPartitioningConfiguration", new HashSet<string> { "Enabled", "RetryOptions" });
            var enabled = JsonMembers.Boolean(dp, "Enabled") ?? false;
            if (enabled != p.DynamicPartitioning && !creating)
                throw FirehoseErrors.Invalid(enabled
                    ? "Dynamic partitioning can only be enabled when the delivery stream is created."
                    : "Dynamic partitioning cannot be disabled once it is enabled.");
            p = p with { DynamicPartitioning = enabled };
            if (JsonMembers.Object(dp, "RetryOptions") is { } retry)
            {
                JsonMembers.OnlyKnown(retry, "RetryOptions", new HashSet<string> { "DurationInSeconds" });
                var seconds = JsonMembers.Integer(retry, "DurationInSeconds") ?? DefaultPartitioningRetrySeconds;
                if (seconds is < 0 or > 7200)
                    throw FirehoseErrors.Invalid($"DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds must be between 0 and 7200, got {seconds}.");
                p = p with { PartitioningRetrySeconds = (int)seconds };
            }
        }
        if (JsonMembers.Object(config, "ProcessingConfiguration") is { } pc)
        {
            JsonMembers.OnlyKnown(pc, "ProcessingConfiguration", new HashSet<string> { "Enabled", "Processors" });
            p = ReadProcessors(pc, p);
        }
        // A configuration given disabled is kept, so that it is described as it was given.
        return current is null && !p.Enabled && !p.DynamicPartitioning && p.Lambda is null && p.MetadataExtractionQuery is null && p.Delimiter is null && p.SubRecordType is null ? null : p;
    }

    private static ProcessingSettings ReadProcessors(JsonElement pc, ProcessingSettings p)
    {
        p = p with { Enabled = JsonMembers.Boolean(pc, "Enabled") ?? p.Enabled };
        if (!pc.TryGetProperty("Processors", out _))
            return p;
        p = p with { Lambda = null, MetadataExtractionQuery = null, JsonParsingEngine = null, Delimiter = null, SubRecordType = null, SubRecordDelimiter = null };
        var seen = new HashSet<string>();
        foreach (var processor in JsonMembers.Array(pc, "Processors"))
        {
            if (processor.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("Each processor must be a structure.");
            JsonMembers.OnlyKnown(processor, "Processor", new HashSet<string> { "Type", "Parameters" });
            var type = JsonMembers.String(processor, "Type") ?? throw FirehoseErrors.Invalid("Processor.Type is required.");
            if (!KnownTypes.Contains(type))
                throw FirehoseErrors.Invalid($"Processor.Type must be one of {string.Join(", ", KnownTypes)}, got '{type}'.");
            if (!seen.Add(type))
                throw FirehoseErrors.Invalid($"Processor {type} is given more than once.");
            var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var parameter in JsonMembers.Array(processor, "Parameters"))
            {
                if (parameter.ValueKind != JsonValueKind.Object)
                    throw KinesisException.Serialization("Each processor parameter must be a structure.");
                JsonMembers.OnlyKnown(parameter, "ProcessorParameter", new HashSet<string> { "ParameterName", "ParameterValue" });
                var name = JsonMembers.String(parameter, "ParameterName") ?? throw FirehoseErrors.Invalid("ProcessorParameter.ParameterName is required.");
                var value = JsonMembers.String(parameter, "ParameterValue") ?? throw FirehoseErrors.Invalid($"ProcessorParameter {name} needs a ParameterValue.");
                if (value.Length is 0 or > 5120)
                    throw FirehoseErrors.Invalid($"ProcessorParameter {name}: ParameterValue must be 1 to 5120 characters.");
                if (!parameters.TryAdd(name, value))
                    throw FirehoseErrors.Invalid($"ProcessorParameter {name} is given more than once for processor {type}.");
            }
            p = type switch
            {
                "Lambda" => p with { Lambda = ReadLambda(parameters) },
                "MetadataExtraction" => ReadExtraction(parameters, p),
                "AppendDelimiterToRecord" => p with { Delimiter = ReadDelimiter(parameters) },
                "RecordDeAggregation" => ReadDeAggregation(parameters, p),
                _ => throw FirehoseErrors.Invalid($"Processor {type} is not supported by this deployment."),
            };
        }
        return p;
    }

    private static void OnlyParameters(Dictionary<string, string> parameters, string type, params string[] known)
    {
        foreach (var name in parameters.Keys)
        {
            if (!known.Contains(name))
                throw FirehoseErrors.Invalid($"Processor {type} takes the parameters {string.Join(", ", known)}; {name} is not one of them.");
        }
    }

    private static LambdaProcessor ReadLambda(Dictionary<string, string> parameters)
    {
        OnlyParameters(parameters, "Lambda", "LambdaArn", "NumberOfRetries", "RoleArn", "BufferSizeInMBs", "BufferIntervalInSeconds");
        var url = parameters.GetValueOrDefault("LambdaArn") ?? throw FirehoseErrors.Invalid("Processor Lambda needs the parameter LambdaArn.");
        if (DestinationPolicy.HttpUrl(url) is null)
            throw FirehoseErrors.Invalid($"LambdaArn must be the absolute http(s) URL of the function (as an event source mapping's FunctionName): {url}");
        var lambda = new LambdaProcessor { LambdaArn = url, RoleArn = parameters.GetValueOrDefault("RoleArn") };
        if (parameters.TryGetValue("NumberOfRetries", out var retries))
            lambda = lambda with { NumberOfRetries = (int)Number(retries, "NumberOfRetries", 0, 300) };
        if (parameters.TryGetValue("BufferSizeInMBs", out var size))
            lambda = lambda with { BufferSizeInMBs = Number(size, "BufferSizeInMBs", 0.2, 3) };
        if (parameters.TryGetValue("BufferIntervalInSeconds", out var interval))
            lambda = lambda with { BufferIntervalInSeconds = (int)Number(interval, "BufferIntervalInSeconds", 60, 900) };
        return lambda;
    }

    private static ProcessingSettings ReadExtraction(Dictionary<string, string> parameters, ProcessingSettings p)
    {
        OnlyParameters(parameters, "MetadataExtraction", "MetadataExtractionQuery", "JsonParsingEngine");
        var query = parameters.GetValueOrDefault("MetadataExtractionQuery") ?? throw FirehoseErrors.Invalid("Processor MetadataExtraction needs the parameter MetadataExtractionQuery.");
        var engine = parameters.GetValueOrDefault("JsonParsingEngine") ?? throw FirehoseErrors.Invalid("Processor MetadataExtraction needs the parameter JsonParsingEngine (JQ-1.6).");
        if (engine != "JQ-1.6")
            throw FirehoseErrors.Invalid($"JsonParsingEngine must be JQ-1.6, got '{engine}'.");
        try
        {
            JqQuery.ParseKeys(query);
        }
        catch (JqException e)
        {
            throw FirehoseErrors.Invalid($"MetadataExtractionQuery is not valid: {e.Message}");
        }
        return p with { MetadataExtractionQuery = query, JsonParsingEngine = engine };
    }

    private static ProcessingSettings ReadDeAggregation(Dictionary<string, string> parameters, ProcessingSettings p)
    {
        OnlyParameters(parameters, "RecordDeAggregation", "SubRecordType", "Delimiter");
        var type = parameters.GetValueOrDefault("SubRecordType") ?? throw FirehoseErrors.Invalid("Processor RecordDeAggregation needs the parameter SubRecordType (JSON or DELIMITED).");
        if (type is not (RecordDeAggregation.Json or RecordDeAggregation.Delimited))
            throw FirehoseErrors.Invalid($"SubRecordType must be JSON or DELIMITED, got '{type}'.");
        var delimiter = parameters.GetValueOrDefault("Delimiter");
        if (type == RecordDeAggregation.Delimited)
        {
            if (delimiter is null)
                throw FirehoseErrors.Invalid("RecordDeAggregation with SubRecordType DELIMITED needs the parameter Delimiter (base64).");
            if (!RecordDeAggregation.TryDecodeDelimiter(delimiter, out _))
                throw FirehoseErrors.Invalid($"The RecordDeAggregation Delimiter must be base64 of at least one byte, got '{delimiter}'.");
        }
        else if (delimiter is not null)
        {
            throw FirehoseErrors.Invalid("The RecordDeAggregation Delimiter applies only to SubRecordType DELIMITED.");
        }
        return p with { SubRecordType = type, SubRecordDelimiter = delimiter };
    }

    private static string ReadDelimiter(Dictionary<string, string> parameters)
    {
        OnlyParameters(parameters, "AppendDelimiterToRecord", "Delimiter");
        return parameters.GetValueOrDefault("Delimiter") ?? "\\n";
    }

    private static double Number(string text, string name, double min, double max)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw FirehoseErrors.Invalid($"ProcessorParameter {name} must be a number between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'.");
        return n;
    }

    /// <summary>The delimiter's bytes: <c>\n</c>, <c>\r</c>, <c>\t</c> and <c>\\</c> are expanded as in the console's examples.</summary>
    public byte[] DelimiterBytes() => System.Text.Encoding.UTF8.GetBytes((Delimiter ?? "").Replace("\\n", "\n").Replace("\\r", "\r").Replace("\\t", "\t").Replace("\\\\", "\\"));

    /// <summary>Checks the combination against the destination's prefixes and buffering, as AWS does at create and update.</summary>
    public void Validate(PrefixTemplate prefix, string? errorOutputPrefix, int sizeInMBs)
    {
        if ((MetadataExtractionQuery is not null || Delimiter is not null || SubRecordType is not null) && !DynamicPartitioning)
            throw FirehoseErrors.Invalid("The MetadataExtraction, AppendDelimiterToRecord and RecordDeAggregation processors need dynamic partitioning enabled.");
        if (!DynamicPartitioning)
            return;
        if (!prefix.HasPartitionKeys)
            throw FirehoseErrors.Invalid("Prefix must contain at least one !{partitionKeyFromQuery:...} or !{partitionKeyFromLambda:...} expression when dynamic partitioning is enabled.");
        if (string.IsNullOrEmpty(errorOutputPrefix))
            throw FirehoseErrors.Invalid("ErrorOutputPrefix is required when dynamic partitioning is enabled.");
        if (sizeInMBs < 64)
            throw FirehoseErrors.Invalid($"BufferingHints.SizeInMBs must be at least 64 when dynamic partitioning is enabled, got {sizeInMBs}.");
        var queryKeys = Enabled && MetadataExtractionQuery is { } q ? JqQuery.ParseKeys(q).Keys.ToHashSet(StringComparer.Ordinal) : [];
        foreach (var key in prefix.QueryKeys)
        {
            if (!queryKeys.Contains(key))
                throw FirehoseErrors.Invalid($"Prefix uses !{{partitionKeyFromQuery:{key}}}, but no enabled MetadataExtractionQuery defines the key {key}.");
        }
        if (prefix.LambdaKeys.Any() && !(Enabled && Lambda is not null))
            throw FirehoseErrors.Invalid("Prefix uses !{partitionKeyFromLambda:...}, which needs an enabled Lambda processor.");
    }

    /// <summary>Writes ProcessingConfiguration and DynamicPartitioningConfiguration of an ExtendedS3DestinationDescription.</summary>
    public void Describe(WireWriter w)
    {
        w.StartObject("ProcessingConfiguration");
        w.Boolean("Enabled", Enabled);
        w.StartArray("Processors");
        if (Lambda is { } l)
        {
            Processor(w, "Lambda",
            [
                ("LambdaArn", l.LambdaArn), ("NumberOfRetries", l.NumberOfRetries.ToString(CultureInfo.InvariantCulture)),
                .. l.RoleArn is null ? Array.Empty<(string, string)>() : [("RoleArn", l.RoleArn)],
                ("BufferSizeInMBs", l.BufferSizeInMBs.ToString(CultureInfo.InvariantCulture)),
                ("BufferIntervalInSeconds", l.BufferIntervalInSeconds.ToString(CultureInfo.InvariantCulture)),
            ]);
        }
        if (SubRecordType is { } subRecordType)
            Processor(w, "RecordDeAggregation", [("SubRecordType", subRecordType), .. SubRecordDelimiter is null ? Array.Empty<(string, string)>() : [("Delimiter", SubRecordDelimiter)]]);
        if (MetadataExtractionQuery is { } query)
            Processor(w, "MetadataExtraction", [("MetadataExtractionQuery", query), ("JsonParsingEngine", JsonParsingEngine ?? "JQ-1.6")]);
        if (Delimiter is { } delimiter)
            Processor(w, "AppendDelimiterToRecord", [("Delimiter", delimiter)]);
        w.EndArray();
        w.EndObject();
        w.StartObject("DynamicPartitioningConfiguration");
        w.Boolean("Enabled", DynamicPartitioning);
        w.StartObject("RetryOptions");
        w.Number("DurationInSeconds", PartitioningRetrySeconds);
        w.EndObject();
        w.EndObject();
    }

    private static void Processor(WireWriter w, string type, (string Name, string Value)[] parameters)
    {
        w.StartObject();
        w.String("Type", type);
        w.StartArray("Parameters");
        foreach (var (name, value) in parameters)
        {
            w.StartObject();
            w.String("ParameterName", name);
            w.String("ParameterValue", value);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
}
