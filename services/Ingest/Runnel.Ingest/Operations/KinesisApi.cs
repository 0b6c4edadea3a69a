using System.Collections.Frozen;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Core.Errors;
using Runnel.Core.Storage;
using Runnel.Core.Streams;
using Runnel.Ingest.Options;
using Runnel.Ingest.Protocol;
using Runnel.Ingest.Streams;
using Runnel.Ingest.Throttling;
using Runnel.Metadata;

namespace Runnel.Ingest.Operations;

/// <summary>
/// The Kinesis operations. Each one parses its request in one pass (type errors are
/// SerializationException), validates every member into one ValidationException, checks the
/// stream's state, and only then changes anything, so bad input never has an effect.
/// </summary>
internal sealed partial class KinesisApi(
    RouteCache routes,
    IDbContextFactory<MetadataDbContext> dbFactory,
    IShardStoreLocator stores,
    IShardPlacer placer,
    ShardIteratorCodec iterators,
    IOptions<RunnelOptions> runnel,
    IOptions<IngestOptions> ingest,
    TimeProvider time,
    IThroughputLimiter limiter,
    IOptionsMonitor<ThrottlingOptions> throttling,
    StreamMetrics metrics,
    Capacity.TrafficRecorder traffic,
    Capacity.HotKeyReporter heat,
    MassTransit.IBus bus,
    ILogger<KinesisApi> logger)
{
    private static readonly FrozenSet<string> Operations = new[]
    {
        "PutRecord", "PutRecords", "GetShardIterator", "GetRecords",
        "CreateStream", "DeleteStream", "DescribeStream", "DescribeStreamSummary", "ListStreams", "ListShards",
        "IncreaseStreamRetentionPeriod", "DecreaseStreamRetentionPeriod",
        "AddTagsToStream", "RemoveTagsFromStream", "ListTagsForStream",
        "TagResource", "UntagResource", "ListTagsForResource",
        "DescribeLimits", "UpdateMaxRecordSize",
        "SplitShard", "MergeShards", "UpdateShardCount", "UpdateStreamMode",
    }.ToFrozenSet(StringComparer.Ordinal);

    public static bool IsKnown(string operation) => Operations.Contains(operation);

    private string Account => runnel.Value.AccountId;

    private string Region => runnel.Value.Region;

    private string ArnOf(string streamName) => Arns.Stream(Region, Account, streamName);

    /// <summary>
    /// Runs one operation. Control-plane operations with a configured rate are admitted first
    /// (LimitExceededException otherwise); the data plane is limited per shard inside each operation.
    /// </summary>
    public async Task DispatchAsync(string operation, ApiCall call)
    {
        if (!IsDataPlane(operation) && !await limiter.TryAcquireControlPlaneAsync(operation, null, call.Aborted))
            throw KinesisException.LimitExceeded($"Rate exceeded for operation {operation} under account {Account}.");
        try
        {
            await DispatchCoreAsync(operation, call);
        }
        catch (DbUpdateConcurrencyException)
        {
            // Two control-plane writes to one stream: the row's version changed between this call's read and its write,
            // and nothing of this call was kept. AWS answers a change that races another with ResourceInUseException.
            throw KinesisException.ResourceInUse($"The stream was changed by another request at the same time under account {Account}; retry the request.");
        }
    }

    /// <summary>
    /// Admits a call against the operation's per-stream rate when it has one (ListShards by default; any
    /// operation calling this follows <c>Throttling:ControlPlane:&lt;op&gt;:Scope=Stream</c>). A stream that does not
    /// exist is left to the operation to report.
    /// </summary>
    private async ValueTask AdmitPerStreamAsync(string operation, string streamName, CancellationToken ct)
    {
        // An account-wide rate was already taken by DispatchAsync; taking it again here would halve it.
        if (!throttling.CurrentValue.ControlPlane.TryGetValue(operation, out var limit) || limit is not { Scope: ControlPlaneScope.Stream })
            return;
        var route = await routes.FindAsync(streamName);
        if (route is not null && !await limiter.TryAcquireControlPlaneAsync(operation, new StreamKey(route.StreamId, route.Name), ct))
            throw KinesisException.LimitExceeded($"Rate exceeded for stream {route.Name} under account {Account}.");
    }

    private static bool IsDataPlane(string operation) => operation is "PutRecord" or "PutRecords" or "GetShardIterator" or "GetRecords";

    private KinesisException ShardRateExceeded(string stream, int shardIndex) =>
        KinesisException.Throughput($"Rate exceeded for shard {ShardIds.Format(shardIndex)} in stream {stream} under account {Account}.");

    private Task DispatchCoreAsync(string operation, ApiCall call) => operation switch
    {
        "PutRecord" => PutRecordAsync(call),
        "PutRecords" => PutRecordsAsync(call),
        "GetShardIterator" => GetShardIteratorAsync(call),
        "GetRecords" => GetRecordsAsync(call),
        "CreateStream" => CreateStreamAsync(call),
        "DeleteStream" => DeleteStreamAsync(call),
        "DescribeStream" => DescribeStreamAsync(call),
        "DescribeStreamSummary" => DescribeStreamSummaryAsync(call),
        "ListStreams" => ListStreamsAsync(call),
        "ListShards" => ListShardsAsync(call),
        "IncreaseStreamRetentionPeriod" => ChangeRetentionAsync(call, increase: true),
        "DecreaseStreamRetentionPeriod" => ChangeRetentionAsync(call, increase: false),
        "AddTagsToStream" => AddTagsAsync(call, byResource: false),
        "TagResource" => AddTagsAsync(call, byResource: true),
        "RemoveTagsFromStream" => RemoveTagsAsync(call, byResource: false),
        "UntagResource" => RemoveTagsAsync(call, byResource: true),
        "ListTagsForStream" => ListTagsForStreamAsync(call),
        "ListTagsForResource" => ListTagsForResourceAsync(call),
        "DescribeLimits" => DescribeLimitsAsync(call),
        "UpdateMaxRecordSize" => UpdateMaxRecordSizeAsync(call),
        "SplitShard" => SplitShardAsync(call),
        "MergeShards" => MergeShardsAsync(call),
        "UpdateShardCount" => UpdateShardCountAsync(call),
        "UpdateStreamMode" => UpdateStreamModeAsync(call),
        _ => throw new KinesisException(ErrorTypes.UnknownOperation, $"Operation {operation} is not supported."),
    };

    /// <summary>
    /// Validates the StreamName / StreamARN pair every operation accepts and returns the stream name.
    /// One of them is required; when both are given they must name the same stream.
    /// </summary>
    private static string? StreamNameOf(Violations v, string? name, string? arn, bool required = true)
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

    private KinesisException StreamNotFound(string name) =>
        KinesisException.ResourceNotFound($"Stream {name} under account {Account} not found.");

    /// <summary>The routing table of a stream that accepts reads and writes.</summary>
    private async ValueTask<StreamRoute> WritableRouteAsync(string name)
    {
        var route = await routes.FindAsync(name);
        if (route is null || !RouteCache.IsWritable(route.Status))
            throw StreamNotFound(name);
        return route;
    }

    private static bool IsRoutingMiss(Exception e) => e is ShardNotOwnedException or ShardSealedException;
}
