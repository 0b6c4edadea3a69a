using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Runnel.Ingest.Throttling.Buckets;
using StackExchange.Redis;

namespace Runnel.Ingest.Throttling;

/// <summary>
/// Maps requests onto token buckets according to <see cref="ThrottlingOptions"/>. The bucket store is
/// either Redis (<see cref="Redis"/>, shared by all replicas) or this process's memory
/// (<see cref="InProcess"/>); both follow the same rules.
/// </summary>
public sealed partial class ThroughputLimiter : IThroughputLimiter
{
    private readonly ITokenBuckets _buckets;
    private readonly IOptionsMonitor<ThrottlingOptions> _options;
    private readonly ILogger _logger;
    private long _lastStoreWarningTicks;

    private ThroughputLimiter(ITokenBuckets buckets, IOptionsMonitor<ThrottlingOptions> options, ILogger? logger)
    {
        _buckets = buckets;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Buckets in this process; <paramref name="time"/> drives refill.</summary>
    public static ThroughputLimiter InProcess(IOptionsMonitor<ThrottlingOptions> options, TimeProvider time, ILogger<ThroughputLimiter>? logger = null) =>
        new(new InProcessTokenBuckets(time), options, logger);

    /// <summary>Buckets in Redis, on the server's clock.</summary>
    public static ThroughputLimiter Redis(IOptionsMonitor<ThrottlingOptions> options, IConnectionMultiplexer redis, ILogger<ThroughputLimiter>? logger = null) =>
        new(new RedisTokenBuckets(redis), options, logger);

    internal ITokenBuckets Buckets => _buckets;

    public EffectiveShardLimits? LimitsFor(string streamName) => _options.CurrentValue.ForStream(streamName);

    public async ValueTask<IReadOnlyList<int>> AcquireWritesAsync(StreamKey stream, IReadOnlyList<ShardWriteDemand> demands, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var limits = options.ForStream(stream.StreamName);
        var all = new int[demands.Count];
        for (var i = 0; i < demands.Count; i++)
        {
            all[i] = demands[i].RecordSizes.Count;
        }

        if (limits is null || (limits.WriteRecordsPerSecond <= 0 && limits.WriteBytesPerSecond <= 0) || demands.Count == 0)
        {
            return all;
        }

        var count = Rate.Of(limits.WriteRecordsPerSecond, options.BurstSeconds);
        var bytes = Rate.Of(limits.WriteBytesPerSecond, options.BurstSeconds);
        var bucketDemands = new BucketDemand[demands.Count];
        for (var i = 0; i < demands.Count; i++)
        {
            var sizes = demands[i].RecordSizes;
            var cumulative = new long[sizes.Count];
            long sum = 0;
            for (var r = 0; r < sizes.Count; r++)
            {
                sum += sizes[r];
                cumulative[r] = sum;
            }

            bucketDemands[i] = new BucketDemand(ShardKey(options, stream, "w", demands[i].ShardIndex), count, bytes, cumulative);
        }

        return await AcquireOrAdmitAsync(options, bucketDemands, all, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> TryAcquireReadAsync(StreamKey stream, int shardIndex, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var limits = options.ForStream(stream.StreamName);
        if (limits is null || (limits.GetRecordsPerSecond <= 0 && limits.ReadBytesPerSecond <= 0 && limits.LargeReadBytes <= 0))
        {
            return true;
        }

        // A read needs a call token and a byte balance that is not in debt; its bytes are charged after.
        var demand = new BucketDemand(
            ShardKey(options, stream, "r", shardIndex),
            Rate.Of(limits.GetRecordsPerSecond, options.BurstSeconds),
            Rate.Of(limits.ReadBytesPerSecond, options.BurstSeconds),
            [0]);
        var granted = await AcquireOrAdmitAsync(options, [demand], [1], cancellationToken).ConfigureAwait(false);
        return granted[0] == 1;
    }

    public async ValueTask ChargeReadAsync(StreamKey stream, int shardIndex, long bytes, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var limits = options.ForStream(stream.StreamName);
        if (limits is null || (limits.ReadBytesPerSecond <= 0 && (limits.LargeReadBytes <= 0 || bytes < limits.LargeReadBytes)))
        {
            return;
        }

        var charge = new BucketCharge(
            ShardKey(options, stream, "r", shardIndex),
            Rate.Of(limits.GetRecordsPerSecond, options.BurstSeconds),
            Rate.Of(limits.ReadBytesPerSecond, options.BurstSeconds),
            bytes,
            limits.LargeReadBytes,
            limits.LargeReadPenalty);
        try
        {
            await _buckets.ChargeAsync(charge, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsStoreFailure(e) && options.FailOpen)
        {
            WarnStoreFailure(e);
        }
    }

    public async ValueTask<bool> TryAcquireShardIteratorAsync(StreamKey stream, int shardIndex, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var limits = options.ForStream(stream.StreamName);
        if (limits is null || limits.GetShardIteratorPerSecond <= 0)
        {
            return true;
        }

        var demand = new BucketDemand(
            ShardKey(options, stream, "i", shardIndex),
            Rate.Of(limits.GetShardIteratorPerSecond, options.BurstSeconds),
            Rate.Unlimited,
            [0]);
        var granted = await AcquireOrAdmitAsync(options, [demand], [1], cancellationToken).ConfigureAwait(false);
        return granted[0] == 1;
    }

    public async ValueTask<bool> TryAcquireControlPlaneAsync(string operation, StreamKey? stream, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        if (!options.Enabled ||
            !options.ControlPlane.TryGetValue(operation, out var limit) || limit is null || limit.PerSecond <= 0)
        {
            return true;
        }

        string key;
        if (limit.Scope == ControlPlaneScope.Stream)
        {
            if (stream is not { } s || options.ForStream(s.StreamName) is null)
            {
                return true;
            }

            key = $"{options.KeyPrefix}:{{{s.StreamId.ToString(CultureInfo.InvariantCulture)}}}:cp:{operation}";
        }
        else
        {
            key = $"{options.KeyPrefix}:{{account}}:cp:{operation}";
        }

        var demand = new BucketDemand(key, Rate.Of(limit.PerSecond, options.BurstSeconds), Rate.Unlimited, [0]);
        var granted = await AcquireOrAdmitAsync(options, [demand], [1], cancellationToken).ConfigureAwait(false);
        return granted[0] == 1;
    }

    /// <summary>
    /// Key of one shard's bucket of one kind (w = writes, r = reads, i = iterators). The stream id is a
    /// Redis hash tag, so all keys of a request fall into one cluster slot, as a script requires.
    /// </summary>
    internal static string ShardKey(ThrottlingOptions options, StreamKey stream, string kind, int shardIndex) =>
        string.Create(CultureInfo.InvariantCulture, $"{options.KeyPrefix}:{{{stream.StreamId}}}:{kind}:{shardIndex}");

    private async ValueTask<int[]> AcquireOrAdmitAsync(ThrottlingOptions options, BucketDemand[] demands, int[] all, CancellationToken cancellationToken)
    {
        try
        {
            return await _buckets.AcquireAsync(demands, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsStoreFailure(e) && options.FailOpen && !cancellationToken.IsCancellationRequested)
        {
            WarnStoreFailure(e);
            return all;
        }
    }

    private static bool IsStoreFailure(Exception e) => e is RedisException or TimeoutException;

    private void WarnStoreFailure(Exception e)
    {
        // At most one warning every 10 s: an outage would otherwise log once per request.
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastStoreWarningTicks);
        if (now - last >= 10_000 && Interlocked.CompareExchange(ref _lastStoreWarningTicks, now, last) == last)
        {
            LogStoreUnavailable(_logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Throttling store unavailable; admitting requests without limits until it answers.")]
    private static partial void LogStoreUnavailable(ILogger logger, Exception exception);
}
