using System.ComponentModel.DataAnnotations;

namespace Runnel.Ingest.Options;

/// <summary>Identity this deployment reports in ARNs and errors, and the key that signs shard iterators.</summary>
public sealed class RunnelOptions
{
    public const string Section = "Runnel";

    [Required]
    public string Region { get; set; } = "us-east-1";

    [Required, RegularExpression("^\\d{12}$")]
    public string AccountId { get; set; } = "000000000000";

    /// <summary>Base64 HMAC key, at least 16 bytes; every Ingest replica must share it.</summary>
    public string? IteratorSigningKey { get; set; }
}

/// <summary>Limits and tuning of the public endpoint (section <c>Ingest</c>).</summary>
public sealed class IngestOptions
{
    public const string Section = "Ingest";

    /// <summary>Shards of all streams together, like the account shard quota.</summary>
    [Range(1, 1_000_000)]
    public int ShardLimit { get; set; } = 1000;

    /// <summary>Shards an ON_DEMAND stream starts with (the service's starting capacity of 4 MB/s).</summary>
    [Range(1, 1000)]
    public int OnDemandShardCount { get; set; } = 4;

    [Range(1, 1000)]
    public int OnDemandStreamLimit { get; set; } = 50;

    /// <summary>UpdateShardCount calls per stream in any rolling 24 hours (the managed service allows 10).</summary>
    [Range(1, 100_000)]
    public int UpdateShardCountPerDay { get; set; } = 10;

    /// <summary>
    /// How long a cached routing table is trusted before it is reloaded. Changes made through this
    /// process invalidate it at once; this bound covers changes made by other replicas.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan RouteCacheLifetime { get; set; } = TimeSpan.FromSeconds(10);
}
