using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Core.Wire;
using Runnel.Firehose.Delivery;
using Runnel.Firehose.Destinations;
using Runnel.Firehose.Intake;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.Firehose.Api;

/// <summary>
/// Firehose's control plane and Direct PUT intake (<c>Firehose_20150804.*</c>). Every operation reads its JSON input
/// and returns the members of its answer (null for an empty answer); errors are thrown in Firehose's shapes.
/// </summary>
public sealed partial class DeliveryStreamApi(
    IDbContextFactory<MetadataDbContext> dbFactory,
    BackingStreams backing,
    DeliveryLeases leases,
    DeliverySignal signal,
    HttpEndpointSender sender,
    FirehoseMetrics metrics,
    IOptions<FirehoseOptions> options,
    TimeProvider time)
{
    /// <summary>PutRecordBatch limits (API reference): 500 records, 4 MiB per call, 1,000 KiB per record before base64.</summary>
    public const int MaxBatchRecords = 500;
    public const int MaxBatchBytes = 4 * 1024 * 1024;
    public const int MaxRecordBytes = 1000 * 1024;
    private const int MaxTags = 50;

    public static readonly IReadOnlySet<string> Operations = new HashSet<string>(StringComparer.Ordinal)
    {
        "CreateDeliveryStream", "DeleteDeliveryStream", "DescribeDeliveryStream", "ListDeliveryStreams", "UpdateDestination",
        "PutRecord", "PutRecordBatch", "TagDeliveryStream", "UntagDeliveryStream", "ListTagsForDeliveryStream",
        "StartDeliveryStreamEncryption", "StopDeliveryStreamEncryption",
    };

    private FirehoseOptions Options => options.Value;

    public Task<Action<WireWriter>?> InvokeAsync(string operation, JsonElement input, CancellationToken ct)
    {
        if (input.ValueKind != JsonValueKind.Object)
            throw KinesisException.Serialization("The request body must be a JSON object.");
        return operation switch
        {
            "CreateDeliveryStream" => CreateAsync(input, ct),
            "DeleteDeliveryStream" => DeleteAsync(input, ct),
            "DescribeDeliveryStream" => DescribeAsync(input, ct),
            "ListDeliveryStreams" => ListAsync(input, ct),
            "UpdateDestination" => UpdateDestinationAsync(input, ct),
            "PutRecord" => PutRecordAsync(input, ct),
            "TagDeliveryStream" => TagAsync(input, ct),
            "UntagDeliveryStream" => UntagAsync(input, ct),
            "ListTagsForDeliveryStream" => ListTagsAsync(input, ct),
            "StartDeliveryStreamEncryption" => SetEncryptionAsync(input, enable: true, ct),
            "StopDeliveryStreamEncryption" => SetEncryptionAsync(input, enable: false, ct),
            _ => throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {operation} is not supported."),
        };
    }

    public string ArnOf(string name) => Arns.DeliveryStream(Options.Region, Options.AccountId, name);

    [GeneratedRegex("^[a-zA-Z0-9_.-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    private static string NameOf(JsonElement input) => CheckName(JsonMembers.String(input, "DeliveryStreamName"));

    private static string CheckName(string? name)
    {
        if (name is null)
            throw FirehoseErrors.Invalid("DeliveryStreamName is required.");
        if (!NamePattern().IsMatch(name))
            throw FirehoseErrors.Invalid($"DeliveryStreamName '{name}' must be 1 to 64 characters of a-z, A-Z, 0-9, '_', '.' and '-'.");
        return name;
    }

    private async Task<DeliveryStreamEntity> FindAsync(MetadataDbContext db, string name, CancellationToken ct, bool withTags = false)
    {
        IQueryable<DeliveryStreamEntity> query = withTags ? db.DeliveryStreams.Include(d => d.Tags) : db.DeliveryStreams;
        return await query.FirstOrDefaultAsync(d => d.Name == name, ct).ConfigureAwait(false)
            ?? throw FirehoseErrors.NotFound(name, Options.AccountId);
    }

    // ---------------------------------------------------------------- Create / Delete

    private static readonly HashSet<string> CreateMembers =
    [
        "DeliveryStreamName", "DeliveryStreamType", "KinesisStreamSourceConfiguration", "DeliveryStreamEncryptionConfigurationInput",
        "S3DestinationConfiguration", "ExtendedS3DestinationConfiguration", "RedshiftDestinationConfiguration", "Tags",
        // Defined by the API but not delivered by this deployment: refused with a clear message below.
        "ElasticsearchDestinationConfiguration", "AmazonopensearchserviceDestinationConfiguration",
        "SplunkDestinationConfiguration", "HttpEndpointDestinationConfiguration", "AmazonOpenSearchServerlessDestinationConfiguration",
        "MSKSourceConfiguration", "SnowflakeDestinationConfiguration", "IcebergDestinationConfiguration", "DirectPutSourceConfiguration",
        "DatabaseSourceConfiguration",
    ];

    private async Task<Action<WireWriter>?> CreateAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "CreateDeliveryStreamInput", CreateMembers);
        var name = NameOf(input);
        var type = JsonMembers.String(input, "DeliveryStreamType") ?? DeliveryStreamTypes.DirectPut;
        if (type is not (DeliveryStreamTypes.DirectPut or DeliveryStreamTypes.KinesisStreamAsSource))
            throw FirehoseErrors.Invalid(type == "MSKAsSource" || type == "DatabaseAsSource"
                ? $"DeliveryStreamType {type} is not supported by this deployment."
                : $"DeliveryStreamType must be DirectPut or KinesisStreamAsSource, got '{type}'.");
        foreach (var member in CreateMembers.Where(m => m.EndsWith("Configuration", StringComparison.Ordinal) && m is not ("S3DestinationConfiguration" or "ExtendedS3DestinationConfiguration" or "RedshiftDestinationConfiguration" or "KinesisStreamSourceConfiguration" or "HttpEndpointDestinationConfiguration")))
        {
            if (input.TryGetProperty(member, out var v) && v.ValueKind != JsonValueKind.Null)
                throw FirehoseErrors.Invalid($"{member} is not supported by this deployment; use ExtendedS3DestinationConfiguration or HttpEndpointDestinationConfiguration.");
        }
        var extended = JsonMembers.Object(input, "ExtendedS3DestinationConfiguration");
        var plain = JsonMembers.Object(input, "S3DestinationConfiguration");
        var postgres = JsonMembers.Object(input, "RedshiftDestinationConfiguration");
        var httpConfig = JsonMembers.Object(input, "HttpEndpointDestinationConfiguration");
        if (new[] { extended, plain, postgres, httpConfig }.Count(c => c is not null) != 1)
            throw FirehoseErrors.Invalid("Exactly one destination configuration is required (ExtendedS3DestinationConfiguration, S3DestinationConfiguration, RedshiftDestinationConfiguration or HttpEndpointDestinationConfiguration).");
        string destinationJson;
        if (httpConfig is { } h)
        {
            var http = HttpEndpointDestination.Read(h, "HttpEndpointDestinationConfiguration", null);
            await RefuseUnallowedAsync(http, ct).ConfigureAwait(false);
            destinationJson = http.ToJson();
        }
        else
        {
            var destination = extended is { } e
                ? S3Destination.Read(e, extended: true, "ExtendedS3DestinationConfiguration", null)
                : postgres is { } p
                    ? PostgresDestination.Read(p, "RedshiftDestinationConfiguration", null)
                    : S3Destination.Read(plain!.Value, extended: false, "S3DestinationConfiguration", null);
            await CheckOutboundAsync(destination, ct).ConfigureAwait(false);
            destinationJson = destination.ToJson();
        }
        var tags = ReadTags(input);
        if (tags.Count > MaxTags)
            throw new KinesisException(FirehoseErrors.LimitExceeded, $"A delivery stream can have at most {MaxTags} tags.");

        string? sourceArn = null, sourceRole = null;
        var source = JsonMembers.Object(input, "KinesisStreamSourceConfiguration");
        if (type == DeliveryStreamTypes.KinesisStreamAsSource)
        {
            if (source is not { } s)
                throw FirehoseErrors.Invalid("KinesisStreamSourceConfiguration is required for DeliveryStreamType KinesisStreamAsSource.");
            JsonMembers.OnlyKnown(s, "KinesisStreamSourceConfiguration", new HashSet<string> { "KinesisStreamARN", "RoleARN" });
            sourceArn = JsonMembers.String(s, "KinesisStreamARN") ?? throw FirehoseErrors.Invalid("KinesisStreamSourceConfiguration.KinesisStreamARN is required.");
            sourceRole = JsonMembers.String(s, "RoleARN") ?? throw FirehoseErrors.Invalid("KinesisStreamSourceConfiguration.RoleARN is required.");
            if (JsonMembers.Object(input, "DeliveryStreamEncryptionConfigurationInput") is not null)
                throw FirehoseErrors.Invalid("Server-side encryption is not allowed for a delivery stream with a Kinesis data stream as source; the stream's own encryption applies.");
        }
        else if (source is not null)
        {
            throw FirehoseErrors.Invalid("KinesisStreamSourceConfiguration is allowed only with DeliveryStreamType KinesisStreamAsSource.");
        }
        var encryption = JsonMembers.Object(input, "DeliveryStreamEncryptionConfigurationInput") is { } enc ? ReadEncryption(enc) : ((string?, string?)?)null;

        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        if (await db.DeliveryStreams.AnyAsync(d => d.Name == name, ct).ConfigureAwait(false))
            throw new KinesisException(FirehoseErrors.ResourceInUse, $"Firehose {name} under accountId {Options.AccountId} already exists.");
        if (await db.DeliveryStreams.CountAsync(ct).ConfigureAwait(false) >= Options.MaxDeliveryStreams)
            throw new KinesisException(FirehoseErrors.LimitExceeded, $"You have already consumed your firehose quota of {Options.MaxDeliveryStreams} hoses. Firehose names: ...");
        StreamEntity? sourceStream = null;
        if (sourceArn is not null)
        {
            if (!Arns.TryParseStream(sourceArn, out var streamName))
                throw FirehoseErrors.Invalid($"KinesisStreamARN '{sourceArn}' is not a Kinesis stream ARN.");
            sourceStream = await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Name == streamName, ct).ConfigureAwait(false);
            if (sourceStream is null || streamName.StartsWith(DeliveryStreamEntity.BackingStreamPrefix, StringComparison.Ordinal))
                throw FirehoseErrors.Invalid($"Stream {streamName} under account {Options.AccountId} not found.");
            if (sourceStream.Status != StreamStatuses.Active && sourceStream.Status != StreamStatuses.Updating)
                throw FirehoseErrors.Invalid($"Stream {streamName} under account {Options.AccountId} is not ACTIVE, instead in state {sourceStream.Status}.");
        }

        var now = time.GetUtcNow();
        var entity = new DeliveryStreamEntity
        {
            Name = name,
            Type = type,
            Status = DeliveryStreamStatuses.Creating,
            SourceStreamArn = sourceArn,
            SourceRoleArn = sourceRole,
            SourceStreamId = sourceStream?.Id ?? 0,
            DestinationConfig = destinationJson,
            EncryptionStatus = encryption is null ? "DISABLED" : "ENABLED",
            EncryptionKeyType = encryption?.Item1,
            EncryptionKeyArn = encryption?.Item2,
            CreatedAt = now,
            LastUpdatedAt = now,
            Tags = [.. tags.Select(t => new DeliveryStreamTagEntity { Key = t.Key, Value = t.Value })],
        };
        db.DeliveryStreams.Add(entity);
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            throw new KinesisException(FirehoseErrors.ResourceInUse, $"Firehose {name} under accountId {Options.AccountId} already exists.");
        }

        // From here creation runs to the end even if the client leaves, so no half-made delivery stream stays behind.
        try
        {
            entity.SourceStreamId = sourceStream?.Id ?? await backing.CreateAsync(entity.Id, CancellationToken.None).ConfigureAwait(false);
            // A data stream is read from the records that arrive after the delivery stream exists, as Firehose does;
            // a backing stream from its start.
            await leases.SeedAsync(db, entity, startAtLatest: sourceStream is not null, CancellationToken.None).ConfigureAwait(false);
            entity.Status = DeliveryStreamStatuses.Active;
            await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            entity.Status = DeliveryStreamStatuses.CreatingFailed;
            await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
            throw new KinesisException(FirehoseErrors.ServiceUnavailable, $"Firehose {name} could not be created: {failure.Message}", 503);
        }
        signal.Pulse();
        var arn = ArnOf(name);
        return w => w.String("DeliveryStreamARN", arn);
    }

    private async Task<Action<WireWriter>?> DeleteAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "DeleteDeliveryStreamInput", new HashSet<string> { "DeliveryStreamName", "AllowForceDelete" });
        var name = NameOf(input);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var entity = await FindAsync(db, name, ct).ConfigureAwait(false);
        entity.Status = DeliveryStreamStatuses.Deleting;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        signal.Pulse();

        // From here the deletion runs to the end even if the client leaves: leases first, so delivery stops, then the
        // backing stream's shards, then the row.
        var application = DeliveryStreamEntity.LeaseApplication(entity.Id);
        await db.Leases.Where(l => l.ApplicationName == application).ExecuteDeleteAsync(CancellationToken.None).ConfigureAwait(false);
        if (entity.Type == DeliveryStreamTypes.DirectPut && entity.SourceStreamId != 0)
            await backing.DeleteAsync(entity.SourceStreamId, CancellationToken.None).ConfigureAwait(false);
        db.DeliveryStreams.Remove(entity);
        await db.SaveChangesAsync(CancellationToken.None).ConfigureAwait(false);
        return null;
    }

    // ---------------------------------------------------------------- Describe / List

    private async Task<Action<WireWriter>?> DescribeAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "DescribeDeliveryStreamInput", new HashSet<string> { "DeliveryStreamName", "Limit", "ExclusiveStartDestinationId" });
        var name = NameOf(input);
        if (JsonMembers.Integer(input, "Limit") is < 1 or > 10000)
            throw FirehoseErrors.Invalid("Limit must be between 1 and 10000.");
        var after = JsonMembers.String(input, "ExclusiveStartDestinationId");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var d = await db.DeliveryStreams.AsNoTracking().FirstOrDefaultAsync(x => x.Name == name, ct).ConfigureAwait(false)
            ?? throw FirehoseErrors.NotFound(name, Options.AccountId);
        var http = HttpEndpointDestination.FromStored(d.DestinationConfig);
        var destination = http is null ? S3Destination.FromJson(d.DestinationConfig) : null;
        // One destination per delivery stream: a page after it is empty.
        var listed = after is null || string.CompareOrdinal(after, d.DestinationId) < 0;
        var arn = ArnOf(d.Name);
        return w =>
        {
            w.StartObject("DeliveryStreamDescription");
            w.String("DeliveryStreamName", d.Name);
            w.String("DeliveryStreamARN", arn);
            w.String("DeliveryStreamStatus", d.Status);
            w.StartObject("DeliveryStreamEncryptionConfiguration");
            if (d.EncryptionKeyArn is not null)
                w.String("KeyARN", d.EncryptionKeyArn);
            if (d.EncryptionKeyType is not null)
                w.String("KeyType", d.EncryptionKeyType);
            w.String("Status", d.EncryptionStatus);
            w.EndObject();
            w.String("DeliveryStreamType", d.Type);
            w.String("VersionId", d.VersionId.ToString(CultureInfo.InvariantCulture));
            w.Timestamp("CreateTimestamp", d.CreatedAt);
            if (d.VersionId > 1)
                w.Timestamp("LastUpdateTimestamp", d.LastUpdatedAt);
            if (d.SourceStreamArn is not null)
            {
                w.StartObject("Source");
                w.StartObject("KinesisStreamSourceDescription");
                w.String("KinesisStreamARN", d.SourceStreamArn);
                w.String("RoleARN", d.SourceRoleArn);
                w.Timestamp("DeliveryStartTimestamp", d.CreatedAt);
                w.EndObject();
                w.EndObject();
            }
            w.StartArray("Destinations");
            if (listed)
            {
                w.StartObject();
                w.String("DestinationId", d.DestinationId);
                if (http is not null)
                {
                    w.StartObject("HttpEndpointDestinationDescription");
                    http.Describe(w);
                    w.EndObject();
                    w.EndObject();
                    w.EndArray();
                    w.Boolean("HasMoreDestinations", false);
                    w.EndObject();
                    return;
                }
                if (destination!.Postgres is { } postgres)
                {
                    // AWS describes a Redshift destination's staging bucket only inside RedshiftDestinationDescription.
                    w.StartObject("RedshiftDestinationDescription");
                    postgres.Describe(w, destination);
                    w.EndObject();
                }
                else
                {
                    w.StartObject("S3DestinationDescription");
                    destination.Describe(w, extended: false);
                    w.EndObject();
                }
                if (destination.Extended)
                {
                    w.StartObject("ExtendedS3DestinationDescription");
                    destination.Describe(w, extended: true);
                    w.EndObject();
                }
                w.EndObject();
            }
            w.EndArray();
            w.Boolean("HasMoreDestinations", false);
            w.EndObject();
        };
    }

    private async Task<Action<WireWriter>?> ListAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "ListDeliveryStreamsInput", new HashSet<string> { "Limit", "DeliveryStreamType", "ExclusiveStartDeliveryStreamName" });
        var limit = JsonMembers.Integer(input, "Limit") ?? 10;
        if (limit is < 1 or > 10000)
            throw FirehoseErrors.Invalid("Limit must be between 1 and 10000.");
        var type = JsonMembers.String(input, "DeliveryStreamType");
        if (type is not (null or DeliveryStreamTypes.DirectPut or DeliveryStreamTypes.KinesisStreamAsSource or "MSKAsSource" or "DatabaseAsSource"))
            throw FirehoseErrors.Invalid($"DeliveryStreamType must be DirectPut, KinesisStreamAsSource, MSKAsSource or DatabaseAsSource, got '{type}'.");
        var after = JsonMembers.String(input, "ExclusiveStartDeliveryStreamName");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var query = db.DeliveryStreams.AsNoTracking();
        if (type is not null)
            query = query.Where(d => d.Type == type);
        if (after is not null)
            query = query.Where(d => string.Compare(d.Name, after) > 0);
        var names = await query.OrderBy(d => d.Name).Select(d => d.Name).Take((int)limit + 1).ToListAsync(ct).ConfigureAwait(false);
        var more = names.Count > limit;
        if (more)
            names.RemoveAt(names.Count - 1);
        return w =>
        {
            w.StartArray("DeliveryStreamNames");
            foreach (var n in names)
                w.StringValue(n);
            w.EndArray();
            w.Boolean("HasMoreDeliveryStreams", more);
        };
    }

    // ---------------------------------------------------------------- UpdateDestination

    /// <summary>An endpoint the operator's allow-list refuses is refused when configured, not only at delivery.</summary>
    private async Task RefuseUnallowedAsync(HttpEndpointDestination http, CancellationToken ct)
    {
        if (await sender.Policy.RefusalAsync(new Uri(http.Url), ct).ConfigureAwait(false) is { } refusal)
            throw FirehoseErrors.Invalid($"EndpointConfiguration.Url {http.Url} is not allowed: {refusal} (Firehose:AllowedHosts).");
    }

    private async Task<Action<WireWriter>?> UpdateDestinationAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "UpdateDestinationInput", new HashSet<string>
        {
            "DeliveryStreamName", "CurrentDeliveryStreamVersionId", "DestinationId", "S3DestinationUpdate", "ExtendedS3DestinationUpdate",
            "RedshiftDestinationUpdate", "ElasticsearchDestinationUpdate", "AmazonopensearchserviceDestinationUpdate", "SplunkDestinationUpdate",
            "HttpEndpointDestinationUpdate", "AmazonOpenSearchServerlessDestinationUpdate", "SnowflakeDestinationUpdate", "IcebergDestinationUpdate",
        });
        var name = NameOf(input);
        var version = JsonMembers.String(input, "CurrentDeliveryStreamVersionId") ?? throw FirehoseErrors.Invalid("CurrentDeliveryStreamVersionId is required.");
        var destinationId = JsonMembers.String(input, "DestinationId") ?? throw FirehoseErrors.Invalid("DestinationId is required.");
        var extended = JsonMembers.Object(input, "ExtendedS3DestinationUpdate");
        var plain = JsonMembers.Object(input, "S3DestinationUpdate");
        var postgres = JsonMembers.Object(input, "RedshiftDestinationUpdate");
        var httpUpdate = JsonMembers.Object(input, "HttpEndpointDestinationUpdate");
        var given = new[] { extended, plain, postgres, httpUpdate }.Count(c => c is not null);
        if (given == 0)
            throw FirehoseErrors.Invalid("An S3DestinationUpdate, ExtendedS3DestinationUpdate, RedshiftDestinationUpdate or HttpEndpointDestinationUpdate is required; other destinations are not supported by this deployment.");
        if (given > 1)
            throw FirehoseErrors.Invalid("Only one destination update may be given.");

        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var d = await FindAsync(db, name, ct).ConfigureAwait(false);
        if (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var expected) || expected != d.VersionId)
            throw new KinesisException(FirehoseErrors.ConcurrentModification,
                $"Cannot update firehose: {name} since the current version id: {d.VersionId} and specified version id: {version} do not match");
        if (destinationId != d.DestinationId)
            throw FirehoseErrors.Invalid($"Destination Id {destinationId} not found for firehose {name}.");
        if (d.Status != DeliveryStreamStatuses.Active)
            throw new KinesisException(FirehoseErrors.ResourceInUse, $"Firehose {name} is not ACTIVE, instead in state {d.Status}.");
        var currentHttp = HttpEndpointDestination.FromStored(d.DestinationConfig);
        // A destination keeps its kind: changing an S3 destination into an HTTP endpoint (or back) is a new delivery stream.
        if ((currentHttp is null) != (httpUpdate is null))
            throw FirehoseErrors.Invalid(currentHttp is null
                ? $"Firehose {name} does not deliver to an HTTP endpoint; HttpEndpointDestinationUpdate does not apply."
                : $"Firehose {name} delivers to an HTTP endpoint; use HttpEndpointDestinationUpdate.");
        if (currentHttp is not null)
        {
            var updatedHttp = HttpEndpointDestination.Read(httpUpdate!.Value, "HttpEndpointDestinationUpdate", currentHttp);
            await RefuseUnallowedAsync(updatedHttp, ct).ConfigureAwait(false);
            d.DestinationConfig = updatedHttp.ToJson();
        }
        else
        {
            var current = S3Destination.FromJson(d.DestinationConfig);
            if ((current.Postgres is null) == (postgres is not null))
                throw FirehoseErrors.Invalid(current.Postgres is null
                    ? "RedshiftDestinationUpdate cannot change the destination type; this delivery stream delivers to S3."
                    : "Only a RedshiftDestinationUpdate can update this delivery stream's PostgreSQL destination.");
            var updated = extended is { } e
                ? S3Destination.Read(e, extended: true, "ExtendedS3DestinationUpdate", current)
                : postgres is { } p
                    ? PostgresDestination.Read(p, "RedshiftDestinationUpdate", current)
                    : S3Destination.Read(plain!.Value, extended: current.Extended, "S3DestinationUpdate", current);
            await CheckOutboundAsync(updated, ct).ConfigureAwait(false);
            d.DestinationConfig = updated.ToJson();
        }
        d.VersionId++;
        d.LastUpdatedAt = time.GetUtcNow();
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new KinesisException(FirehoseErrors.ConcurrentModification,
                $"Cannot update firehose: {name} since the current version id has changed; describe it again for the new VersionId.");
        }
        signal.Pulse();
        return null;
    }

    /// <summary>A destination outside the platform must pass the operator's allow-list (<see cref="FirehoseOptions.AllowedHosts"/>).</summary>
    private async Task CheckOutboundAsync(S3Destination destination, CancellationToken ct)
    {
        if (destination.Postgres is { } postgres
            && await sender.Policy.RefusalAsync(postgres.Endpoint, ct).ConfigureAwait(false) is { } refusal)
            throw FirehoseErrors.Invalid($"ClusterJDBCURL {postgres.JdbcUrl} is not allowed: {refusal} (Firehose:AllowedHosts).");
        if (destination.Processing?.Lambda is { } lambda
            && await sender.Policy.RefusalAsync(new Uri(lambda.LambdaArn), ct).ConfigureAwait(false) is { } lambdaRefusal)
            throw FirehoseErrors.Invalid($"LambdaArn {lambda.LambdaArn} is not allowed: {lambdaRefusal} (Firehose:AllowedHosts).");
    }

    // ---------------------------------------------------------------- Tags

    private static List<KeyValuePair<string, string>> ReadTags(JsonElement input)
    {
        var tags = new List<KeyValuePair<string, string>>();
        foreach (var tag in JsonMembers.Array(input, "Tags"))
        {
            if (tag.ValueKind != JsonValueKind.Object)
                throw KinesisException.Serialization("Each tag must be a structure.");
            JsonMembers.OnlyKnown(tag, "Tag", new HashSet<string> { "Key", "Value" });
            var key = JsonMembers.String(tag, "Key") ?? throw FirehoseErrors.Invalid("Tag.Key is required.");
            var value = JsonMembers.String(tag, "Value") ?? "";
            if (key.Length is < 1 or > 128 || value.Length > 256 || key.StartsWith("aws:", StringComparison.Ordinal))
                throw FirehoseErrors.Invalid($"Tag key '{key}' must be 1 to 128 characters not starting with aws:, and its value at most 256 characters.");
            tags.RemoveAll(t => t.Key == key);
            tags.Add(new(key, value));
        }
        return tags;
    }

    private async Task<Action<WireWriter>?> TagAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "TagDeliveryStreamInput", new HashSet<string> { "DeliveryStreamName", "Tags" });
        var name = NameOf(input);
        var tags = ReadTags(input);
        if (tags.Count is < 1 or > MaxTags)
            throw FirehoseErrors.Invalid($"Tags must hold 1 to {MaxTags} tags.");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var d = await FindAsync(db, name, ct, withTags: true).ConfigureAwait(false);
        foreach (var (key, value) in tags)
        {
            if (d.Tags.FirstOrDefault(t => t.Key == key) is { } existing)
                existing.Value = value;
            else
                d.Tags.Add(new DeliveryStreamTagEntity { Key = key, Value = value });
        }
        if (d.Tags.Count > MaxTags)
            throw new KinesisException(FirehoseErrors.LimitExceeded, $"A delivery stream can have at most {MaxTags} tags; this request would give {name} {d.Tags.Count}.");
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return null;
    }

    private async Task<Action<WireWriter>?> UntagAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "UntagDeliveryStreamInput", new HashSet<string> { "DeliveryStreamName", "TagKeys" });
        var name = NameOf(input);
        var keys = JsonMembers.Array(input, "TagKeys").Select(k => k.ValueKind == JsonValueKind.String ? k.GetString()! : throw KinesisException.Serialization("TagKeys must be strings.")).ToHashSet();
        if (keys.Count is < 1 or > MaxTags)
            throw FirehoseErrors.Invalid($"TagKeys must hold 1 to {MaxTags} keys.");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var d = await FindAsync(db, name, ct, withTags: true).ConfigureAwait(false);
        d.Tags.RemoveAll(t => keys.Contains(t.Key));
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return null;
    }

    private async Task<Action<WireWriter>?> ListTagsAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "ListTagsForDeliveryStreamInput", new HashSet<string> { "DeliveryStreamName", "ExclusiveStartTagKey", "Limit" });
        var name = NameOf(input);
        var limit = JsonMembers.Integer(input, "Limit") ?? MaxTags;
        if (limit is < 1 or > MaxTags)
            throw FirehoseErrors.Invalid($"Limit must be between 1 and {MaxTags}.");
        var after = JsonMembers.String(input, "ExclusiveStartTagKey");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var d = await FindAsync(db, name, ct, withTags: true).ConfigureAwait(false);
        var tags = d.Tags.Where(t => after is null || string.CompareOrdinal(t.Key, after) > 0).OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var more = tags.Count > limit;
        tags = [.. tags.Take((int)limit)];
        return w =>
        {
            w.TagList("Tags", tags.Select(t => KeyValuePair.Create(t.Key, (string?)t.Value)));
            w.Boolean("HasMoreTags", more);
        };
    }

    // ---------------------------------------------------------------- Encryption

    /// <summary>KeyType and KeyARN of a DeliveryStreamEncryptionConfigurationInput.</summary>
    private static (string? KeyType, string? KeyArn) ReadEncryption(JsonElement config)
    {
        JsonMembers.OnlyKnown(config, "DeliveryStreamEncryptionConfigurationInput", new HashSet<string> { "KeyARN", "KeyType" });
        var type = JsonMembers.String(config, "KeyType") ?? throw FirehoseErrors.Invalid("DeliveryStreamEncryptionConfigurationInput.KeyType is required.");
        var arn = JsonMembers.String(config, "KeyARN");
        return type switch
        {
            "AWS_OWNED_CMK" when arn is null => (type, null),
            "AWS_OWNED_CMK" => throw FirehoseErrors.Invalid("KeyARN must not be given with KeyType AWS_OWNED_CMK."),
            "CUSTOMER_MANAGED_CMK" when arn is not null => (type, arn),
            "CUSTOMER_MANAGED_CMK" => throw FirehoseErrors.Invalid("KeyARN is required with KeyType CUSTOMER_MANAGED_CMK."),
            _ => throw FirehoseErrors.Invalid($"KeyType must be AWS_OWNED_CMK or CUSTOMER_MANAGED_CMK, got '{type}'."),
        };
    }

    /// <summary>
    /// Records the encryption state Firehose reports. Records at rest are protected by the shard store's storage, not
    /// by a key, so the switch is immediate (AWS passes through ENABLING/DISABLING).
    /// </summary>
    private async Task<Action<WireWriter>?> SetEncryptionAsync(JsonElement input, bool enable, CancellationToken ct)
    {
        var members = new HashSet<string> { "DeliveryStreamName" };
        if (enable)
            members.Add("DeliveryStreamEncryptionConfigurationInput");
        JsonMembers.OnlyKnown(input, enable ? "StartDeliveryStreamEncryptionInput" : "StopDeliveryStreamEncryptionInput", members);
        var name = NameOf(input);
        var config = enable && JsonMembers.Object(input, "DeliveryStreamEncryptionConfigurationInput") is { } c ? ReadEncryption(c) : ("AWS_OWNED_CMK", null);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var d = await FindAsync(db, name, ct).ConfigureAwait(false);
        if (d.Type != DeliveryStreamTypes.DirectPut)
            throw FirehoseErrors.Invalid($"Encryption is not supported for Firehose {name} of type {d.Type}; the source stream's encryption applies.");
        if (d.Status != DeliveryStreamStatuses.Active)
            throw new KinesisException(FirehoseErrors.ResourceInUse, $"Firehose {name} is not ACTIVE, instead in state {d.Status}.");
        d.EncryptionStatus = enable ? "ENABLED" : "DISABLED";
        d.EncryptionKeyType = enable ? config.Item1 : null;
        d.EncryptionKeyArn = enable ? config.Item2 : null;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return null;
    }

    // ---------------------------------------------------------------- PutRecord / PutRecordBatch

    private async Task<Action<WireWriter>?> PutRecordAsync(JsonElement input, CancellationToken ct)
    {
        JsonMembers.OnlyKnown(input, "PutRecordInput", new HashSet<string> { "DeliveryStreamName", "Record" });
        var name = NameOf(input);
        var record = JsonMembers.Object(input, "Record") ?? throw FirehoseErrors.Invalid("Record is required.");
        var data = ReadRecord(record, "Record");
        var (d, sequences) = await AppendAsync(name, [data], ct).ConfigureAwait(false);
        var encrypted = d.EncryptionStatus == "ENABLED";
        var id = sequences[0].ToString();
        return w =>
        {
            w.String("RecordId", id);
            w.Boolean("Encrypted", encrypted);
        };
    }

    /// <summary>
    /// PutRecordBatch read in one pass over the request body, record data base64-decoded in place into
    /// <paramref name="body"/> (the call's own buffer, valid until it ends), so a 500-record batch is neither parsed
    /// into a document nor copied per record. The checks and their wording are those of the document path.
    /// </summary>
    public async Task<Action<WireWriter>?> PutRecordBatchAsync(byte[] body, int length, WireFormat format, CancellationToken ct)
    {
        string? name = null;
        var records = new List<ReadOnlyMemory<byte>>(MaxBatchRecords);
        var listed = 0;
        var r = WireReader.Create(body, length, format);
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("DeliveryStreamName"u8))
                name = r.ReadString();
            else if (member.SequenceEqual("Records"u8))
            {
                if (!r.ReadStartArray())
                    continue;
                while (r.TryReadArrayItem())
                {
                    listed++;
                    // Past the limit the call is refused anyway: skip the rest rather than decode it.
                    if (listed > MaxBatchRecords)
                    {
                        r.Skip();
                        continue;
                    }
                    if (!r.ReadStartObject())
                        throw KinesisException.Serialization("Each record must be a structure.");
                    ReadOnlyMemory<byte>? data = null;
                    while (r.TryReadPropertyName(out var field))
                    {
                        if (field.SequenceEqual("Data"u8))
                            data = r.ReadBlob();
                        else
                            throw FirehoseErrors.Invalid($"Record has no member {Encoding.UTF8.GetString(field)}.");
                    }
                    records.Add(CheckRecord(data, $"Records.{listed}"));
                }
            }
            else
                throw FirehoseErrors.Invalid($"PutRecordBatchInput has no member {Encoding.UTF8.GetString(member)}.");
        }
        r.ReadRequestEnd();
        name = CheckName(name);
        if (listed is < 1 or > MaxBatchRecords)
            throw FirehoseErrors.Invalid($"Records must hold 1 to {MaxBatchRecords} records, got {listed}.");
        long total = 0;
        foreach (var record in records)
            total += record.Length;
        if (total > MaxBatchBytes)
            throw FirehoseErrors.Invalid($"The records of one PutRecordBatch call may hold at most {MaxBatchBytes} bytes, got {total}.");
        var (d, sequences) = await AppendAsync(name, records, ct).ConfigureAwait(false);
        var encrypted = d.EncryptionStatus == "ENABLED";
        return w =>
        {
            w.Number("FailedPutCount", 0);
            w.Boolean("Encrypted", encrypted);
            w.StartArray("RequestResponses");
            foreach (var s in sequences)
            {
                w.StartObject();
                w.String("RecordId", s.ToString());
                w.EndObject();
            }
            w.EndArray();
        };
    }

    private static readonly HashSet<string> RecordMembers = ["Data"];

    private static ReadOnlyMemory<byte> ReadRecord(JsonElement record, string where)
    {
        JsonMembers.OnlyKnown(record, "Record", RecordMembers);
        return CheckRecord(JsonMembers.Blob(record, "Data"), where);
    }

    private static ReadOnlyMemory<byte> CheckRecord(ReadOnlyMemory<byte>? data, string where)
    {
        var bytes = data ?? throw FirehoseErrors.Invalid($"{where}.Data is required.");
        if (bytes.Length > MaxRecordBytes)
            throw FirehoseErrors.Invalid($"{where}.Data is {bytes.Length} bytes; a record may hold at most {MaxRecordBytes} bytes (1,000 KiB) before base64 encoding.");
        return bytes;
    }

    /// <summary>
    /// Writes the records durably into the delivery stream's backing stream; they are acknowledged only after that.
    /// A call either stores every record or none (one append), so a failure answers ServiceUnavailableException for
    /// the whole call and the client retries it.
    /// </summary>
    private async Task<(DeliveryStreamEntity, IReadOnlyList<SequenceNumber>)> AppendAsync(string name, IReadOnlyList<ReadOnlyMemory<byte>> data, CancellationToken ct)
    {
        DeliveryStreamEntity d;
        await using (var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false))
            d = await db.DeliveryStreams.AsNoTracking().FirstOrDefaultAsync(x => x.Name == name, ct).ConfigureAwait(false)
                ?? throw FirehoseErrors.NotFound(name, Options.AccountId);
        if (d.Type != DeliveryStreamTypes.DirectPut)
            throw FirehoseErrors.Invalid($"This operation is not permitted on KinesisStreamAsSource delivery stream type: {name}. Put records into the source stream instead.");
        if (d.Status != DeliveryStreamStatuses.Active)
            throw FirehoseErrors.NotFound(name, Options.AccountId);
        // The partition key only routes within the backing stream; a record's key carries nothing Firehose delivers.
        var records = data.Select(b => new AppendRecord("firehose", b)).ToList();
        try
        {
            var sequences = await backing.AppendAsync(d.SourceStreamId, records, ct).ConfigureAwait(false);
            metrics.RecordsIn(name, data.Count, data.Sum(b => (long)b.Length));
            return (d, sequences);
        }
        catch (Exception e) when (e is ShardNotOwnedException or ShardNotFoundException or ShardStoreUnavailableException or HttpRequestException or IOException)
        {
            throw new KinesisException(FirehoseErrors.ServiceUnavailable, $"Firehose {name} cannot take records right now ({e.Message}); retry.", 503);
        }
    }
}

public static class DeliveryStreamStatuses
{
    public const string Creating = "CREATING";
    public const string CreatingFailed = "CREATING_FAILED";
    public const string Active = "ACTIVE";
    public const string Deleting = "DELETING";
}
