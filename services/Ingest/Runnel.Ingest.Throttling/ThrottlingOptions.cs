using Microsoft.Extensions.Options;

namespace Runnel.Ingest.Throttling;

/// <summary>
/// Per-shard and control-plane rate limits (section <c>Throttling</c>). Defaults are the limits of
/// a provisioned Kinesis shard. In every rate, 0 means "no limit" for that dimension.
/// </summary>
/// <example>
/// <c>Throttling:Enabled=false</c> switches throttling off everywhere (benchmarks);
/// <c>Throttling:Streams:orders:WriteRecordsPerSecond=5000</c> raises one stream's record rate;
/// <c>Throttling:Streams:bench:Enabled=false</c> switches it off for one stream.
/// </example>
public sealed class ThrottlingOptions
{
    public const string Section = "Throttling";

    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Capacity of every bucket in seconds of its rate: a shard idle for this long may take this
    /// much at once. One second is about what the managed service allows.
    /// </summary>
    public double BurstSeconds { get; set; } = 1.0;

    /// <summary>Prefix of the Redis keys (several deployments may share one Redis).</summary>
    public string KeyPrefix { get; set; } = "runnel:tb";

    /// <summary>
    /// When the shared bucket store cannot be reached, admit the request (and log) rather than
    /// refuse it: losing throttling for a while is better than losing the data path.
    /// </summary>
    public bool FailOpen { get; set; } = true;

    /// <summary>Limits of every shard unless its stream overrides them.</summary>
    public ShardLimits Shard { get; set; } = new();

    /// <summary>Overrides by stream name; unset values fall back to <see cref="Shard"/>.</summary>
    public Dictionary<string, StreamLimitsOverride> Streams { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Calls per second of control-plane operations by operation name. Operations not listed are
    /// not limited. Configuration adds to or replaces these entries.
    /// </summary>
    public Dictionary<string, ControlPlaneLimit> ControlPlane { get; set; } = DefaultControlPlane();

    /// <summary>The limits in force for one stream's shards; null when the stream is not throttled at all.</summary>
    public EffectiveShardLimits? ForStream(string streamName)
    {
        if (!Enabled)
        {
            return null;
        }

        if (!Streams.TryGetValue(streamName, out var o))
        {
            return Shard.ToEffective();
        }

        if (o.Enabled == false)
        {
            return null;
        }

        return new EffectiveShardLimits(
            o.WriteBytesPerSecond ?? Shard.WriteBytesPerSecond,
            o.WriteRecordsPerSecond ?? Shard.WriteRecordsPerSecond,
            o.ReadBytesPerSecond ?? Shard.ReadBytesPerSecond,
            o.GetRecordsPerSecond ?? Shard.GetRecordsPerSecond,
            o.GetShardIteratorPerSecond ?? Shard.GetShardIteratorPerSecond,
            o.LargeReadBytes ?? Shard.LargeReadBytes,
            o.LargeReadPenalty ?? Shard.LargeReadPenalty);
    }

    // Rates from the managed service's documentation. ListShards is per stream (checked once the
    // operation knows its stream); the others are per account, and a deployment serves one account.
    private static Dictionary<string, ControlPlaneLimit> DefaultControlPlane() => new(StringComparer.Ordinal)
    {
        ["CreateStream"] = new() { PerSecond = 5 },
        ["DeleteStream"] = new() { PerSecond = 5 },
        ["SplitShard"] = new() { PerSecond = 5 },
        ["MergeShards"] = new() { PerSecond = 5 },
        ["UpdateShardCount"] = new() { PerSecond = 10 },
        ["DescribeStream"] = new() { PerSecond = 10 },
        ["DescribeStreamSummary"] = new() { PerSecond = 20 },
        ["RegisterStreamConsumer"] = new() { PerSecond = 5 },
        ["ListShards"] = new() { PerSecond = 1000, Scope = ControlPlaneScope.Stream },
    };
}

/// <summary>Limits of one shard. Bytes count data plus partition key, as the managed service does.</summary>
public sealed class ShardLimits
{
    public const long MiB = 1024 * 1024;

    public long WriteBytesPerSecond { get; set; } = MiB;

    public int WriteRecordsPerSecond { get; set; } = 1000;

    /// <summary>Shared by all GetRecords readers of the shard.</summary>
    public long ReadBytesPerSecond { get; set; } = 2 * MiB;

    public int GetRecordsPerSecond { get; set; } = 5;

    public int GetShardIteratorPerSecond { get; set; } = 5;

    /// <summary>A GetRecords answer at least this large blocks the shard's reads for <see cref="LargeReadPenalty"/>. 0 disables the rule.</summary>
    public long LargeReadBytes { get; set; } = 10 * MiB;

    public TimeSpan LargeReadPenalty { get; set; } = TimeSpan.FromSeconds(5);

    internal EffectiveShardLimits ToEffective() => new(
        WriteBytesPerSecond, WriteRecordsPerSecond, ReadBytesPerSecond, GetRecordsPerSecond,
        GetShardIteratorPerSecond, LargeReadBytes, LargeReadPenalty);
}

/// <summary>A stream's deviations from <see cref="ThrottlingOptions.Shard"/>; null inherits.</summary>
public sealed class StreamLimitsOverride
{
    /// <summary>False switches throttling off for the stream.</summary>
    public bool? Enabled { get; set; }

    public long? WriteBytesPerSecond { get; set; }

    public int? WriteRecordsPerSecond { get; set; }

    public long? ReadBytesPerSecond { get; set; }

    public int? GetRecordsPerSecond { get; set; }

    public int? GetShardIteratorPerSecond { get; set; }

    public long? LargeReadBytes { get; set; }

    public TimeSpan? LargeReadPenalty { get; set; }
}

public enum ControlPlaneScope
{
    /// <summary>One bucket for the whole deployment.</summary>
    Account,

    /// <summary>One bucket per stream.</summary>
    Stream,
}

public sealed class ControlPlaneLimit
{
    /// <summary>Calls per second; 0 means no limit.</summary>
    public double PerSecond { get; set; }

    public ControlPlaneScope Scope { get; set; } = ControlPlaneScope.Account;
}

/// <summary>The per-shard limits in force for a stream, as DescribeLimits and the limiter see them. 0 = no limit.</summary>
public sealed record EffectiveShardLimits(
    long WriteBytesPerSecond,
    int WriteRecordsPerSecond,
    long ReadBytesPerSecond,
    int GetRecordsPerSecond,
    int GetShardIteratorPerSecond,
    long LargeReadBytes,
    TimeSpan LargeReadPenalty);

/// <summary>Rejects negative rates and a burst too small to hold one second's share of anything.</summary>
public sealed class ThrottlingOptionsValidator : IValidateOptions<ThrottlingOptions>
{
    public ValidateOptionsResult Validate(string? name, ThrottlingOptions options)
    {
        var errors = new List<string>();
        if (options.BurstSeconds is < 0.01 or > 3600)
        {
            errors.Add($"Throttling:BurstSeconds must be between 0.01 and 3600 (was {options.BurstSeconds}).");
        }

        if (string.IsNullOrWhiteSpace(options.KeyPrefix))
        {
            errors.Add("Throttling:KeyPrefix must not be empty.");
        }

        Check("Throttling:Shard", options.Shard.ToEffective(), errors);
        foreach (var (stream, o) in options.Streams)
        {
            if (o is null)
            {
                continue;
            }

            var probe = new ThrottlingOptions { Shard = options.Shard, Streams = { [stream] = o } }.ForStream(stream);
            if (probe is not null)
            {
                Check($"Throttling:Streams:{stream}", probe, errors);
            }
        }

        foreach (var (operation, limit) in options.ControlPlane)
        {
            if (limit is not null && limit.PerSecond < 0)
            {
                errors.Add($"Throttling:ControlPlane:{operation}:PerSecond must not be negative.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(string path, EffectiveShardLimits l, List<string> errors)
    {
        if (l.WriteBytesPerSecond < 0 || l.WriteRecordsPerSecond < 0 || l.ReadBytesPerSecond < 0 ||
            l.GetRecordsPerSecond < 0 || l.GetShardIteratorPerSecond < 0 || l.LargeReadBytes < 0 ||
            l.LargeReadPenalty < TimeSpan.Zero)
        {
            errors.Add($"{path}: limits must not be negative (0 means no limit).");
        }
    }
}
