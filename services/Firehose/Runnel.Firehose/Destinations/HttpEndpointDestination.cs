using System.Text.Json;
using System.Text.Json.Serialization;
using Runnel.Core.Wire;
using Runnel.Firehose.Api;

namespace Runnel.Firehose.Destinations;

/// <summary>
/// An HTTP endpoint destination (HttpEndpointDestinationConfiguration) with AWS's defaults filled in. Records that
/// cannot be delivered within <see cref="RetryDurationInSeconds"/> go to <see cref="Backup"/> (S3Configuration) under
/// its ErrorOutputPrefix with the error output type <c>http-endpoint-failed</c>; with S3BackupMode AllData every record
/// goes there too. Stored as JSON in the delivery stream's row, told apart from an S3 destination by <see cref="Kind"/>.
/// </summary>
public sealed record HttpEndpointDestination
{
    public const string HttpEndpointKind = "HttpEndpoint";
    public const string FailedDataOnly = "FailedDataOnly";
    public const string AllData = "AllData";

    public string Kind { get; init; } = HttpEndpointKind;
    public required string Url { get; init; }
    public string? Name { get; init; }
    /// <summary>Sent as X-Amz-Firehose-Access-Key; never described.</summary>
    public string? AccessKey { get; init; }
    public string? RoleArn { get; init; }
    public int SizeInMBs { get; init; } = 5;
    public int IntervalInSeconds { get; init; } = 300;
    public string ContentEncoding { get; init; } = "NONE";
    public Dictionary<string, string> CommonAttributes { get; init; } = [];
    public int RetryDurationInSeconds { get; init; } = 300;
    public string S3BackupMode { get; init; } = FailedDataOnly;
    public required S3Destination Backup { get; init; }

    private static readonly HashSet<string> Members =
    [
        "EndpointConfiguration", "BufferingHints", "CloudWatchLoggingOptions", "RequestConfiguration", "ProcessingConfiguration",
        "RoleARN", "RetryOptions", "S3BackupMode", "S3Configuration", "SecretsManagerConfiguration", "S3Update",
    ];

    /// <summary>Reads a configuration (<paramref name="current"/> null) or an update of <paramref name="current"/>.</summary>
    public static HttpEndpointDestination Read(JsonElement config, string structure, HttpEndpointDestination? current)
    {
        JsonMembers.OnlyKnown(config, structure, Members);
        var endpoint = JsonMembers.Object(config, "EndpointConfiguration");
        if (endpoint is null && current is null)
            throw FirehoseErrors.Invalid($"{structure}.EndpointConfiguration is required.");
        string? url = current?.Url, name = current?.Name, accessKey = current?.AccessKey;
        if (endpoint is { } e)
        {
            JsonMembers.OnlyKnown(e, "EndpointConfiguration", new HashSet<string> { "Url", "Name", "AccessKey" });
            url = JsonMembers.String(e, "Url") ?? throw FirehoseErrors.Invalid("EndpointConfiguration.Url is required.");
            name = JsonMembers.String(e, "Name");
            accessKey = JsonMembers.String(e, "AccessKey");
        }
        // AWS takes https only; a self-hosted platform also delivers over plain http inside its network.
        if (url!.Length > 1000 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.UserInfo))
            throw FirehoseErrors.Invalid($"EndpointConfiguration.Url '{url}' must be an absolute https:// or http:// URL of at most 1000 characters, without credentials.");
        if (name?.Length is < 1 or > 256 || accessKey?.Length > 4096)
            throw FirehoseErrors.Invalid("EndpointConfiguration.Name is 1-256 characters and AccessKey at most 4096.");

        var backupConfig = JsonMembers.Object(config, "S3Configuration") ?? JsonMembers.Object(config, "S3Update");
        if (backupConfig is null && current is null)
            throw FirehoseErrors.Invalid($"{structure}.S3Configuration is required.");
        var backup = backupConfig is { } b ? S3Destination.Read(b, extended: false, "S3Configuration", current?.Backup) : current!.Backup;

        var d = current is null
            ? new HttpEndpointDestination { Url = url, Name = name, AccessKey = accessKey, Backup = backup }
            : current with { Url = url, Name = name, AccessKey = accessKey, Backup = backup };
        if (JsonMembers.String(config, "RoleARN") is { } role)
            d = d with { RoleArn = role };
        var (size, interval) = S3Destination.ReadBufferingHints(config, d.SizeInMBs, d.IntervalInSeconds, maxSizeInMBs: 64);
        d = d with { SizeInMBs = size, IntervalInSeconds = interval };
        if (JsonMembers.Object(config, "RequestConfiguration") is { } request)
        {
            JsonMembers.OnlyKnown(request, "RequestConfiguration", new HashSet<string> { "ContentEncoding", "CommonAttributes" });
            var encoding = JsonMembers.String(request, "ContentEncoding") ?? d.ContentEncoding;
            if (encoding is not ("NONE" or "GZIP"))
                throw FirehoseErrors.Invalid($"RequestConfiguration.ContentEncoding must be NONE or GZIP, got '{encoding}'.");
            var attributes = request.TryGetProperty("CommonAttributes", out _) ? new Dictionary<string, string>(StringComparer.Ordinal) : d.CommonAttributes;
            foreach (var attribute in JsonMembers.Array(request, "CommonAttributes"))
            {
                var key = JsonMembers.String(attribute, "AttributeName");
                var value = JsonMembers.String(attribute, "AttributeValue");
                if (key is not { Length: >= 1 and <= 256 } || value is not { Length: <= 1024 })
                    throw FirehoseErrors.Invalid("CommonAttributes need an AttributeName of 1-256 characters and an AttributeValue of at most 1024.");
                attributes[key] = value;
            }
            d = d with { ContentEncoding = encoding, CommonAttributes = attributes };
        }
        if (JsonMembers.Object(config, "RetryOptions") is { } retry)
        {
            JsonMembers.OnlyKnown(retry, "RetryOptions", new HashSet<string> { "DurationInSeconds" });
            var duration = JsonMembers.Integer(retry, "DurationInSeconds") ?? d.RetryDurationInSeconds;
            if (duration is < 0 or > 7200)
                throw FirehoseErrors.Invalid($"RetryOptions.DurationInSeconds must be between 0 and 7200, got {duration}.");
            d = d with { RetryDurationInSeconds = (int)duration };
        }
        if (JsonMembers.String(config, "S3BackupMode") is { } mode)
        {
            if (mode is not (FailedDataOnly or AllData))
                throw FirehoseErrors.Invalid($"S3BackupMode must be FailedDataOnly or AllData, got '{mode}'.");
            d = d with { S3BackupMode = mode };
        }
        if (JsonMembers.Object(config, "ProcessingConfiguration") is { } processing && JsonMembers.Boolean(processing, "Enabled") == true)
            throw FirehoseErrors.Invalid("ProcessingConfiguration is not supported by this deployment yet.");
        if (JsonMembers.Object(config, "SecretsManagerConfiguration") is { } secrets && JsonMembers.Boolean(secrets, "Enabled") == true)
            throw FirehoseErrors.Invalid("SecretsManagerConfiguration is not supported by this deployment; give EndpointConfiguration.AccessKey.");
        return d;
    }

    /// <summary>Writes the HttpEndpointDestinationDescription members (the access key is never shown, as in AWS).</summary>
    public void Describe(WireWriter w)
    {
        w.StartObject("EndpointConfiguration");
        w.String("Url", Url);
        if (Name is not null)
            w.String("Name", Name);
        w.EndObject();
        w.StartObject("BufferingHints");
        w.Number("SizeInMBs", SizeInMBs);
        w.Number("IntervalInSeconds", IntervalInSeconds);
        w.EndObject();
        w.StartObject("RequestConfiguration");
        w.String("ContentEncoding", ContentEncoding);
        w.StartArray("CommonAttributes");
        foreach (var (key, value) in CommonAttributes)
        {
            w.StartObject();
            w.String("AttributeName", key);
            w.String("AttributeValue", value);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        if (RoleArn is not null)
            w.String("RoleARN", RoleArn);
        w.StartObject("RetryOptions");
        w.Number("DurationInSeconds", RetryDurationInSeconds);
        w.EndObject();
        w.String("S3BackupMode", S3BackupMode);
        w.StartObject("S3DestinationDescription");
        Backup.Describe(w, extended: false);
        w.EndObject();
    }

    public string ToJson() => JsonSerializer.Serialize(this, HttpDestinationJson.Default.HttpEndpointDestination);

    /// <summary>The HTTP endpoint stored in a delivery stream's row, or null when the row holds an S3 destination.</summary>
    public static HttpEndpointDestination? FromStored(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.TryGetProperty(nameof(Kind), out var kind) && kind.GetString() == HttpEndpointKind
            ? JsonSerializer.Deserialize(json, HttpDestinationJson.Default.HttpEndpointDestination)
            : null;
    }
}

[JsonSerializable(typeof(HttpEndpointDestination))]
internal sealed partial class HttpDestinationJson : JsonSerializerContext;
