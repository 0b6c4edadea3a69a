using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Streams;
using Runnel.Ingest.Options;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Streams;
using Runnel.Metadata;
using Runnel.Metadata.Entities;

namespace Runnel.Ingest.Operations;

/// <summary>
/// What every Kinesis handler needs of a stream: its name from StreamName / StreamARN, its ARN, lookups in the catalog
/// and the routing table, the account's shard limit, and AWS's wording for a stream that is missing or busy.
/// </summary>
internal sealed class KinesisStreams(RouteCache routes, IOptions<RunnelOptions> runnel, IOptions<IngestOptions> ingest)
{
    public const int MaxShardsPerStream = 100_000;

    /// <summary>The capacity modes a stream can be created in or switched to.</summary>
    public static readonly string[] Modes = [StreamModes.Provisioned, StreamModes.OnDemand];

    public string Account => runnel.Value.AccountId;

    public string Region => runnel.Value.Region;

    public string ArnOf(string streamName) => Arns.Stream(Region, Account, streamName);

    /// <summary>
    /// Validates the StreamName / StreamARN pair every operation accepts and returns the stream name.
    /// One of them is required; when both are given they must name the same stream.
    /// </summary>
    public static string? NameOf(Violations v, string? name, string? arn, bool required = true)
    {
        v.StreamName(name);
        v.StreamArn(arn);
        if (name is null && arn is null)
        {
            if (required)
                v.NotNull("streamName", null);
            return null;
        }
        if (v.Any)
            return null;
        if (arn is not null && Arns.TryParseStream(arn, out var fromArn))
        {
            if (name is not null && name != fromArn)
                throw KinesisException.InvalidArgument($"StreamARN {arn} and StreamName {name} do not refer to the same stream.");
            return fromArn;
        }
        return name;
    }

    public KinesisException NotFound(string name) =>
        KinesisException.ResourceNotFound($"Stream {name} under account {Account} not found.");

    public KinesisException NotActive(StreamEntity s) =>
        KinesisException.ResourceInUse($"Stream {s.Name} under account {Account} not ACTIVE, instead in state {s.Status}");

    public async Task<StreamEntity> FindStreamAsync(MetadataDbContext db, string name, CancellationToken ct, bool tracked = false)
    {
        var query = tracked ? db.Streams : db.Streams.AsNoTracking();
        return await query.FirstOrDefaultAsync(s => s.Name == name, ct) ?? throw NotFound(name);
    }

    /// <summary>The routing table of a stream that accepts reads and writes.</summary>
    public async ValueTask<StreamRoute> WritableRouteAsync(string name)
    {
        var route = await routes.FindAsync(name);
        if (route is null || !RouteCache.IsWritable(route.Status))
            throw NotFound(name);
        return route;
    }

    public async Task<long> OpenShardCountAsync(MetadataDbContext db, CancellationToken ct) =>
        await db.Shards.CountAsync(s => s.EndingSequenceNumber == null, ct);

    /// <summary>Refuses a change that would open <paramref name="added"/> more shards than the account's limit allows.</summary>
    public async Task CheckShardLimitAsync(MetadataDbContext db, int added, CancellationToken ct)
    {
        var open = await OpenShardCountAsync(db, ct);
        if (added > 0 && open + added > ingest.Value.ShardLimit)
            throw KinesisException.LimitExceeded(
                $"This request would exceed the shard limit for the account {Account} in {Region}. Current shard count for the account: {open}. Limit: {ingest.Value.ShardLimit}. Number of additional shards that would have resulted from this request: {added}. Refer to the AWS Service Limits page (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.");
    }

    /// <summary>Refuses one more ON_DEMAND stream when the account already has its limit of them.</summary>
    public async Task CheckOnDemandStreamLimitAsync(MetadataDbContext db, CancellationToken ct)
    {
        if (await db.Streams.CountAsync(s => s.Mode == StreamModes.OnDemand, ct) >= ingest.Value.OnDemandStreamLimit)
            throw KinesisException.LimitExceeded($"This request would exceed the limit of {ingest.Value.OnDemandStreamLimit} on-demand streams for the account {Account} in {Region}.");
    }
}
