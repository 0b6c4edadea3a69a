using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.FanOut.Consumers;

public static class ConsumerStatuses
{
    public const string Creating = "CREATING";
    public const string Active = "ACTIVE";
    public const string Deleting = "DELETING";
}

/// <summary>A registered consumer as the API describes it.</summary>
public sealed record ConsumerInfo(long Id, long StreamId, string StreamName, string StreamArn, string Name, string Arn, string Status, DateTimeOffset CreatedAt);

/// <summary>A page of <see cref="ConsumerRegistry.ListAsync"/>; NextToken is null on the last page.</summary>
public sealed record ConsumerPage(IReadOnlyList<ConsumerInfo> Consumers, string? NextToken);

/// <summary>
/// Registered (enhanced fan-out) consumers in the <c>stream_consumers</c> table. A consumer is CREATING when
/// registered and becomes ACTIVE once <see cref="FanOutOptions.ConsumerActivationMilliseconds"/> have passed (applied
/// when it is next read). The per-stream limit is <see cref="FanOutOptions.MaxConsumersPerStream"/>; the unique index
/// on (stream, name) settles concurrent registrations of one name.
/// </summary>
public sealed partial class ConsumerRegistry(IDbContextFactory<MetadataDbContext> dbFactory, IOptions<FanOutOptions> options, TimeProvider time)
{
    private readonly FanOutOptions _options = options.Value;

    [GeneratedRegex("^[a-zA-Z0-9_.-]+$")]
    private static partial Regex NamePattern();

    public string StreamArn(string streamName) => Arns.Stream(_options.Region, _options.AccountId, streamName);

    public async Task<ConsumerInfo> RegisterAsync(string? streamArn, string? consumerName, CancellationToken ct)
    {
        var violations = new List<string>();
        ValidateStreamArn(streamArn, "streamARN", violations);
        ValidateName(consumerName, violations);
        if (violations.Count > 0)
            throw KinesisException.Validation(violations);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var stream = await FindStreamAsync(db, streamArn!, ct).ConfigureAwait(false);
        if (await db.StreamConsumers.AnyAsync(c => c.StreamId == stream.Id && c.Name == consumerName, ct).ConfigureAwait(false))
            throw KinesisException.ResourceInUse($"Consumer {consumerName} under stream {stream.Name} already exists for account {_options.AccountId}.");
        var count = await db.StreamConsumers.CountAsync(c => c.StreamId == stream.Id, ct).ConfigureAwait(false);
        if (count >= _options.MaxConsumersPerStream)
            throw KinesisException.LimitExceeded($"Stream {stream.Name} under account {_options.AccountId} has reached the limit of {_options.MaxConsumersPerStream} registered consumers.");
        // Whole seconds: the ARN carries the creation time in seconds and must round-trip to the stored row.
        var now = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var arn = Arns.Consumer(StreamArn(stream.Name), consumerName!, now.ToUnixTimeSeconds());
        var entity = new StreamConsumerEntity
        {
            StreamId = stream.Id,
            Name = consumerName!,
            Arn = arn,
            Status = ConsumerStatuses.Creating,
            CreatedAt = now,
        };
        db.StreamConsumers.Add(entity);
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            throw KinesisException.ResourceInUse($"Consumer {consumerName} under stream {stream.Name} already exists for account {_options.AccountId}.");
        }
        return ToInfo(entity, stream.Name);
    }

    /// <summary>By ARN, or by stream ARN and name. Throws ResourceNotFound when absent.</summary>
    public async Task<ConsumerInfo> DescribeAsync(string? streamArn, string? consumerName, string? consumerArn, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var (entity, streamName) = await FindAsync(db, streamArn, consumerName, consumerArn, ct).ConfigureAwait(false);
        await PromoteAsync(db, [entity], ct).ConfigureAwait(false);
        return ToInfo(entity, streamName);
    }

    /// <summary>Removes the consumer; the caller ends its subscriptions.</summary>
    public async Task<ConsumerInfo> DeregisterAsync(string? streamArn, string? consumerName, string? consumerArn, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var (entity, streamName) = await FindAsync(db, streamArn, consumerName, consumerArn, ct).ConfigureAwait(false);
        db.StreamConsumers.Remove(entity);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return ToInfo(entity, streamName) with { Status = ConsumerStatuses.Deleting };
    }

    public async Task<ConsumerPage> ListAsync(string? streamArn, int? maxResults, string? nextToken, CancellationToken ct)
    {
        var violations = new List<string>();
        ValidateStreamArn(streamArn, "streamARN", violations);
        if (maxResults is < 1 or > 10000)
            violations.Add($"Value '{maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 10000");
        if (violations.Count > 0)
            throw KinesisException.Validation(violations);
        await using var db = await dbFactory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var stream = await FindStreamAsync(db, streamArn!, ct).ConfigureAwait(false);
        long after = 0;
        if (nextToken is not null && !TryReadToken(nextToken, stream.Id, out after))
            throw KinesisException.InvalidArgument("Invalid NextToken.");
        var take = maxResults ?? 100;
        var rows = await db.StreamConsumers.Where(c => c.StreamId == stream.Id && c.Id > after)
            .OrderBy(c => c.Id).Take(take + 1).ToListAsync(ct).ConfigureAwait(false);
        var page = rows.Take(take).ToList();
        await PromoteAsync(db, page, ct).ConfigureAwait(false);
        var token = rows.Count > take ? WriteToken(stream.Id, page[^1].Id) : null;
        return new ConsumerPage([.. page.Select(c => ToInfo(c, stream.Name))], token);
    }

    /// <summary>The consumer named by a SubscribeToShard ARN; ResourceNotFound if it is not registered.</summary>
    public Task<ConsumerInfo> FindByArnAsync(string consumerArn, CancellationToken ct) => DescribeAsync(null, null, consumerArn, ct);

    private async Task PromoteAsync(MetadataDbContext db, IReadOnlyList<StreamConsumerEntity> consumers, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var activation = TimeSpan.FromMilliseconds(_options.ConsumerActivationMilliseconds);
        var changed = false;
        foreach (var c in consumers)
        {
            if (c.Status == ConsumerStatuses.Creating && now - c.CreatedAt >= activation)
            {
                c.Status = ConsumerStatuses.Active;
                changed = true;
            }
        }
        if (changed)
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    private async Task<(StreamConsumerEntity, string)> FindAsync(MetadataDbContext db, string? streamArn, string? consumerName, string? consumerArn, CancellationToken ct)
    {
        if (consumerArn is not null)
        {
            if (streamArn is not null || consumerName is not null)
                throw KinesisException.InvalidArgument("Specify either ConsumerARN, or both StreamARN and ConsumerName, but not both.");
            if (!TryParseConsumerArn(consumerArn, out var streamName, out var name))
                throw KinesisException.InvalidArgument($"Invalid ConsumerARN {consumerArn}.");
            var byArn = await db.StreamConsumers.FirstOrDefaultAsync(c => c.Arn == consumerArn, ct).ConfigureAwait(false)
                ?? throw KinesisException.ResourceNotFound($"Consumer {name}, account {_options.AccountId} not found.");
            return (byArn, streamName);
        }
        if (streamArn is null || consumerName is null)
            throw KinesisException.InvalidArgument("Specify either ConsumerARN, or both StreamARN and ConsumerName.");
        var violations = new List<string>();
        ValidateStreamArn(streamArn, "streamARN", violations);
        ValidateName(consumerName, violations);
        if (violations.Count > 0)
            throw KinesisException.Validation(violations);
        var stream = await FindStreamAsync(db, streamArn, ct).ConfigureAwait(false);
        var entity = await db.StreamConsumers.FirstOrDefaultAsync(c => c.StreamId == stream.Id && c.Name == consumerName, ct).ConfigureAwait(false)
            ?? throw KinesisException.ResourceNotFound($"Consumer {consumerName}, account {_options.AccountId} not found.");
        return (entity, stream.Name);
    }

    private async Task<StreamEntity> FindStreamAsync(MetadataDbContext db, string streamArn, CancellationToken ct)
    {
        Arns.TryParseStream(streamArn, out var name);
        var stream = await db.Streams.AsNoTracking().FirstOrDefaultAsync(s => s.Name == name, ct).ConfigureAwait(false);
        if (stream is null || stream.Status == StreamStatuses.Deleting)
            throw KinesisException.ResourceNotFound($"Stream {name} under account {_options.AccountId} not found.");
        return stream;
    }

    private ConsumerInfo ToInfo(StreamConsumerEntity c, string streamName) =>
        new(c.Id, c.StreamId, streamName, StreamArn(streamName), c.Name, c.Arn, c.Status, c.CreatedAt);

    private static void ValidateStreamArn(string? arn, string member, List<string> violations)
    {
        if (arn is null)
            violations.Add($"Value null at '{member}' failed to satisfy constraint: Member must not be null");
        else if (arn.Length is < 1 or > 2048 || !Arns.TryParseStream(arn, out _))
            violations.Add($"Value '{arn}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{{12}}:stream/\\S+");
    }

    private static void ValidateName(string? name, List<string> violations)
    {
        if (name is null)
            violations.Add("Value null at 'consumerName' failed to satisfy constraint: Member must not be null");
        else if (name.Length is < 1 or > 128 || !NamePattern().IsMatch(name))
            violations.Add($"Value '{name}' at 'consumerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128");
    }

    /// <summary><c>arn:aws:kinesis:region:account:stream/NAME/consumer/CONSUMER:SECONDS</c>.</summary>
    public static bool TryParseConsumerArn(string? arn, out string streamName, out string consumerName)
    {
        streamName = consumerName = "";
        if (!Arns.TryParseStream(arn, out var stream))
            return false;
        const string marker = "/consumer/";
        var at = arn!.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0)
            return false;
        var rest = arn[(at + marker.Length)..];
        var colon = rest.LastIndexOf(':');
        if (colon <= 0 || !long.TryParse(rest.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            return false;
        streamName = stream;
        consumerName = rest[..colon];
        return true;
    }

    private static string WriteToken(long streamId, long lastId) =>
        Convert.ToBase64String(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{streamId}:{lastId}")));

    private static bool TryReadToken(string token, long streamId, out long lastId)
    {
        lastId = 0;
        try
        {
            var parts = Encoding.ASCII.GetString(Convert.FromBase64String(token)).Split(':');
            return parts.Length == 2
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id == streamId
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out lastId);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
