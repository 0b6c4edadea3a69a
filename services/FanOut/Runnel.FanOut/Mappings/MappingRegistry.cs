using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.FanOut.Mappings;

/// <summary>A page of <see cref="MappingRegistry.ListAsync"/>; NextMarker is null on the last page.</summary>
public sealed record MappingPage(IReadOnlyList<EventSourceMappingEntity> Mappings, string? NextMarker);

/// <summary>
/// Lambda's event-source-mapping operations over the <c>event_source_mappings</c> table. Validation follows Lambda's
/// ranges and defaults; creation also writes one lease row per shard holding where delivery starts, so LATEST means
/// "after what the stream held when the mapping was created", however late delivery begins.
/// </summary>
public sealed class MappingRegistry(
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator locator,
    IOptions<FanOutOptions> options,
    MappingSignal signal,
    TimeProvider time,
    DestinationPolicy destinations)
{
    private static readonly string[] Positions = ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"];
    private readonly FanOutOptions _options = options.Value;

    public async Task<EventSourceMappingEntity> CreateAsync(JsonElement q, CancellationToken ct)
    {
        RejectUnsupported(q);
        var sourceArn = Str(q, "EventSourceArn") ?? throw MappingException.InvalidParameter("EventSourceArn is required.");
        var function = Str(q, "FunctionName") ?? throw MappingException.InvalidParameter("FunctionName is required.");
        await ValidateFunctionAsync(function, ct).ConfigureAwait(false);
        var position = Str(q, "StartingPosition") ?? throw MappingException.InvalidParameter("StartingPosition is required for Kinesis event sources.");
        if (!Positions.Contains(position))
            throw Constraint(position, "startingPosition", $"Member must satisfy enum value set: [{string.Join(", ", Positions)}]");
        DateTimeOffset? at = null;
        if (q.TryGetProperty("StartingPositionTimestamp", out var ts) && ts.ValueKind != JsonValueKind.Null)
            at = Timestamp(ts);
        if (position == "AT_TIMESTAMP" && at is null)
            throw MappingException.InvalidParameter("StartingPositionTimestamp is required when StartingPosition is AT_TIMESTAMP.");
        if (position != "AT_TIMESTAMP" && at is not null)
            throw MappingException.InvalidParameter("StartingPositionTimestamp is only valid with StartingPosition AT_TIMESTAMP.");

        var now = time.GetUtcNow();
        var m = new EventSourceMappingEntity
        {
            Uuid = Guid.NewGuid().ToString(),
            EventSourceArn = sourceArn,
            FunctionName = function,
            Enabled = Bool(q, "Enabled") ?? true,
            State = MappingStates.Creating,
            StartingPosition = position,
            StartingPositionTimestamp = at,
            BatchSize = 100,
            ParallelizationFactor = 1,
            MaximumRetryAttempts = -1,
            MaximumRecordAgeInSeconds = -1,
            CreatedAt = now,
            LastModified = now,
        };
        Apply(q, m);

        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var stream = await FindStreamAsync(db, sourceArn, "EventSourceArn", ct).ConfigureAwait(false);
        if (m.OnFailureDestination is { } destination)
            await FindStreamAsync(db, destination, "DestinationConfig.OnFailure.Destination", ct).ConfigureAwait(false);
        m.StreamId = stream.Id;
        m.EventSourceArn = StreamArn(stream.Name);
        var duplicate = await db.EventSourceMappings.AsNoTracking()
            .FirstOrDefaultAsync(x => x.StreamId == stream.Id && x.FunctionName == function, ct).ConfigureAwait(false);
        if (duplicate is not null)
            throw MappingException.Conflict($"The event source arn ({m.EventSourceArn}) and function ({function}) provided mapping already exists. Please update or delete the existing mapping with UUID {duplicate.Uuid}");
        db.EventSourceMappings.Add(m);
        await MappingLeases.SeedAsync(db, m, s => MappingLeases.StartOfAsync(s, position, at, locator, db, ct), ct).ConfigureAwait(false);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        signal.Pulse();
        return m;
    }

    public async Task<EventSourceMappingEntity> GetAsync(string uuid, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await FindAsync(db, uuid, tracking: false, ct).ConfigureAwait(false);
    }

    public async Task<MappingPage> ListAsync(string? sourceArn, string? function, string? marker, int? maxItems, CancellationToken ct)
    {
        if (maxItems is < 1 or > 10_000)
            throw Constraint(maxItems!.Value.ToString(CultureInfo.InvariantCulture), "maxItems", "Member must have value between 1 and 10000");
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        IQueryable<EventSourceMappingEntity> query = db.EventSourceMappings.AsNoTracking();
        if (sourceArn is not null)
        {
            if (!Arns.TryParseStream(sourceArn, out var name))
                throw MappingException.InvalidParameter($"Invalid EventSourceArn: {sourceArn}");
            var arn = StreamArn(name);
            query = query.Where(m => m.EventSourceArn == arn);
        }
        if (function is not null)
            query = query.Where(m => m.FunctionName == function);
        if (marker is not null)
            query = query.Where(m => string.Compare(m.Uuid, marker) > 0);
        var take = maxItems ?? 100;
        var rows = await query.OrderBy(m => m.Uuid).Take(take + 1).ToListAsync(ct).ConfigureAwait(false);
        var page = rows.Take(take).ToList();
        return new MappingPage(page, rows.Count > take ? page[^1].Uuid : null);
    }

    public async Task<EventSourceMappingEntity> UpdateAsync(string uuid, JsonElement q, CancellationToken ct)
    {
        RejectUnsupported(q);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var m = await FindAsync(db, uuid, tracking: true, ct).ConfigureAwait(false);
        if (m.State is MappingStates.Creating or MappingStates.Deleting)
            throw new MappingException("ResourceInUseException", 400, $"Cannot update the event source mapping because it is in use (state {m.State}).");
        if (Str(q, "FunctionName") is { } function)
        {
            await ValidateFunctionAsync(function, ct).ConfigureAwait(false);
            if (function != m.FunctionName && await db.EventSourceMappings.AnyAsync(x => x.StreamId == m.StreamId && x.FunctionName == function, ct).ConfigureAwait(false))
                throw MappingException.Conflict($"The event source arn ({m.EventSourceArn}) and function ({function}) provided mapping already exists.");
            m.FunctionName = function;
        }
        Apply(q, m);
        if (m.OnFailureDestination is { } destination)
            await FindStreamAsync(db, destination, "DestinationConfig.OnFailure.Destination", ct).ConfigureAwait(false);
        var enabled = Bool(q, "Enabled");
        if (enabled is { } e && e != m.Enabled)
        {
            m.Enabled = e;
            m.State = e ? MappingStates.Enabling : MappingStates.Disabling;
        }
        else
        {
            m.State = MappingStates.Updating;
        }
        m.StateTransitionReason = "User action";
        m.LastModified = time.GetUtcNow();
        m.Version++;
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new MappingException("ResourceInUseException", 400, "The event source mapping was changed concurrently; retry.");
        }
        signal.Pulse();
        return m;
    }

    /// <summary>Removes the mapping and its progress; the answer describes it in state Deleting, as Lambda's does.</summary>
    public async Task<EventSourceMappingEntity> DeleteAsync(string uuid, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var m = await FindAsync(db, uuid, tracking: true, ct).ConfigureAwait(false);
        var application = MappingLeases.Application(uuid);
        await using (var tx = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false))
        {
            await db.Leases.Where(l => l.ApplicationName == application).ExecuteDeleteAsync(ct).ConfigureAwait(false);
            db.EventSourceMappings.Remove(m);
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        signal.Pulse();
        m.State = MappingStates.Deleting;
        return m;
    }

    public string StreamArn(string streamName) => Arns.Stream(_options.Region, _options.AccountId, streamName);

    private static async Task<EventSourceMappingEntity> FindAsync(MetadataDbContext db, string uuid, bool tracking, CancellationToken ct)
    {
        var query = tracking ? db.EventSourceMappings : db.EventSourceMappings.AsNoTracking();
        return await query.FirstOrDefaultAsync(m => m.Uuid == uuid, ct).ConfigureAwait(false)
            ?? throw MappingException.NotFound($"The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {Guid.NewGuid()})");
    }

    private async Task<StreamEntity> FindStreamAsync(MetadataDbContext db, string arn, string member, CancellationToken ct)
    {
        if (!Arns.TryParseStream(arn, out var name) || arn.Contains("/consumer/", StringComparison.Ordinal))
            throw MappingException.InvalidParameter($"{member} must be the ARN of a Kinesis stream: {arn}");
        var stream = await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Name == name, ct).ConfigureAwait(false);
        if (stream is null || stream.Status == StreamStatuses.Deleting)
            throw MappingException.InvalidParameter($"Stream not found: {StreamArn(name)}");
        return stream;
    }

    /// <summary>The members that create and update share; absent members keep their value.</summary>
    private static void Apply(JsonElement q, EventSourceMappingEntity m)
    {
        if (Int(q, "BatchSize") is { } batch)
            m.BatchSize = batch is >= 1 and <= 10_000 ? batch : throw Constraint(batch, "batchSize", "Member must have value between 1 and 10000");
        if (Int(q, "MaximumBatchingWindowInSeconds") is { } window)
            m.MaximumBatchingWindowInSeconds = window is >= 0 and <= 300 ? window : throw Constraint(window, "maximumBatchingWindowInSeconds", "Member must have value between 0 and 300");
        if (Int(q, "ParallelizationFactor") is { } factor)
            m.ParallelizationFactor = factor is >= 1 and <= 10 ? factor : throw Constraint(factor, "parallelizationFactor", "Member must have value between 1 and 10");
        if (Int(q, "MaximumRetryAttempts") is { } retries)
            m.MaximumRetryAttempts = retries is >= -1 and <= 10_000 ? retries : throw Constraint(retries, "maximumRetryAttempts", "Member must have value between -1 and 10000");
        if (Int(q, "MaximumRecordAgeInSeconds") is { } age)
            m.MaximumRecordAgeInSeconds = age == -1 || age is >= 60 and <= 604_800 ? age : throw Constraint(age, "maximumRecordAgeInSeconds", "Member must be -1 or have value between 60 and 604800");
        if (Bool(q, "BisectBatchOnFunctionError") is { } bisect)
            m.BisectBatchOnFunctionError = bisect;
        if (q.TryGetProperty("FunctionResponseTypes", out var types) && types.ValueKind == JsonValueKind.Array)
        {
            var report = false;
            foreach (var t in types.EnumerateArray())
            {
                if (t.ValueKind != JsonValueKind.String || t.GetString() != "ReportBatchItemFailures")
                    throw Constraint(t.ToString(), "functionResponseTypes", "Member must satisfy enum value set: [ReportBatchItemFailures]");
                report = true;
            }
            m.ReportBatchItemFailures = report;
        }
        if (q.TryGetProperty("DestinationConfig", out var destination) && destination.ValueKind == JsonValueKind.Object)
        {
            if (destination.TryGetProperty("OnSuccess", out var success) && success.ValueKind == JsonValueKind.Object && Str(success, "Destination") is { Length: > 0 })
                throw MappingException.InvalidParameter("Unsupported DestinationConfig parameter for given event source mapping type: OnSuccess.");
            if (destination.TryGetProperty("OnFailure", out var failure) && failure.ValueKind == JsonValueKind.Object)
                m.OnFailureDestination = Str(failure, "Destination") is { Length: > 0 } arn ? arn : null;
        }
    }

    private static void RejectUnsupported(JsonElement q)
    {
        foreach (var name in new[] { "FilterCriteria", "Topics", "Queues", "SourceAccessConfigurations", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig", "ScalingConfig", "DocumentDBEventSourceConfig" })
            if (q.TryGetProperty(name, out var v) && v.ValueKind is not JsonValueKind.Null)
                throw MappingException.InvalidParameter($"Unsupported {name} parameter for given event source mapping type.");
        if (Int(q, "TumblingWindowInSeconds") is > 0)
            throw MappingException.InvalidParameter("TumblingWindowInSeconds is not supported.");
    }

    private async Task ValidateFunctionAsync(string function, CancellationToken ct)
    {
        if (DestinationPolicy.HttpUrl(function) is not { } uri)
            throw MappingException.InvalidParameter($"FunctionName must be the absolute http(s) URL of the receiver: {function}");
        if (await destinations.RefusalAsync(uri, ct).ConfigureAwait(false) is { } refusal)
            throw MappingException.InvalidParameter($"FunctionName {function} is not allowed: {refusal} (FanOut:Mappings:AllowedHosts).");
    }

    private static MappingException Constraint(object value, string member, string rule) =>
        MappingException.InvalidParameter($"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}");

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Null => null,
            _ => throw MappingException.InvalidParameter($"{name} must be a string."),
        } : null;

    private static int? Int(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.Number when v.TryGetInt32(out var i) => i,
            JsonValueKind.Null => null,
            _ => throw MappingException.InvalidParameter($"{name} must be an integer."),
        } : null;

    private static bool? Bool(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw MappingException.InvalidParameter($"{name} must be a boolean."),
        } : null;

    /// <summary>Epoch seconds (what the AWS SDKs send in rest-json bodies) or an ISO 8601 string.</summary>
    private static DateTimeOffset Timestamp(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number when MalformedInput.TryEpochSeconds(v.GetDouble(), out var at) => at,
        JsonValueKind.String when DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var d) => d,
        _ => throw MappingException.InvalidParameter("StartingPositionTimestamp must be a timestamp."),
    };
}
