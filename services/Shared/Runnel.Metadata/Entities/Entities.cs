namespace Runnel.Metadata.Entities;

public static class StreamStatuses
{
    public const string Creating = "CREATING";
    public const string Active = "ACTIVE";
    public const string Updating = "UPDATING";
    public const string Deleting = "DELETING";
}

public static class StreamModes
{
    public const string Provisioned = "PROVISIONED";
    public const string OnDemand = "ON_DEMAND";
}

/// <summary>
/// One incarnation of a stream. Id is never reused, so data of a deleted stream can never be read
/// through a new stream of the same name. Name is unique among existing streams.
/// </summary>
public class StreamEntity
{
    public long Id { get; set; }
    public required string Name { get; set; }
    public required string Status { get; set; }
    public string Mode { get; set; } = StreamModes.Provisioned;
    public int RetentionHours { get; set; } = 24;
    public DateTimeOffset CreatedAt { get; set; }
    public string EncryptionType { get; set; } = "NONE";
    public string? KeyId { get; set; }
    /// <summary>Largest record (data + partition key) this stream accepts, in KiB (1,024 by default, up to 10,240).</summary>
    public int MaxRecordSizeKiB { get; set; } = 1024;
    /// <summary>Next shard index to hand out; shard indexes of a stream are never reused.</summary>
    public int NextShardIndex { get; set; }
    /// <summary>Optimistic concurrency token, bumped on every change of the stream or its shard set.</summary>
    public long Version { get; set; }

    public List<ShardEntity> Shards { get; set; } = [];
    public List<StreamTagEntity> Tags { get; set; } = [];

    /// <summary>
    /// Adds shards 0 .. <paramref name="count"/> - 1 over equal parts of the hash key space, as CreateStream makes
    /// them (the last takes the remainder), and sets <see cref="NextShardIndex"/> past them.
    /// </summary>
    public void AddEvenlySplitShards(int count, DateTimeOffset now)
    {
        var ranges = Core.Hashing.HashKeyRange.EvenSplit(count);
        for (var i = 0; i < count; i++)
        {
            Shards.Add(new ShardEntity
            {
                ShardIndex = i,
                HashKeyStart = ranges[i].Start,
                HashKeyEnd = ranges[i].End,
                StartingSequenceNumber = new Core.Streams.SequenceNumber(i, 0).ToString(),
                CreatedAt = now,
            });
        }
        NextShardIndex = count;
    }
}

/// <summary>
/// A shard and its lineage. Hash keys are stored as 39-digit zero-padded decimal strings so they sort
/// and compare correctly as text on every provider. A closed shard keeps its row until its data expires.
/// </summary>
public class ShardEntity
{
    public long StreamId { get; set; }
    public int ShardIndex { get; set; }
    public UInt128 HashKeyStart { get; set; }
    public UInt128 HashKeyEnd { get; set; }
    public int? ParentShardIndex { get; set; }
    public int? AdjacentParentShardIndex { get; set; }
    public required string StartingSequenceNumber { get; set; }
    public string? EndingSequenceNumber { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ClosedAt { get; set; }

    public StreamEntity? Stream { get; set; }
}

/// <summary>
/// Which node owns a shard. Epoch increases on every reassignment; a node accepts writes only at the
/// epoch recorded here, which fences a stale owner.
/// </summary>
public class ShardPlacementEntity
{
    public long StreamId { get; set; }
    public int ShardIndex { get; set; }
    public required string NodeId { get; set; }
    public long Epoch { get; set; }
    public DateTimeOffset AssignedAt { get; set; }
}

/// <summary>A ShardStore node: where to reach it and when it last said it was alive.</summary>
public class StoreNodeEntity
{
    public required string NodeId { get; set; }
    public required string Address { get; set; }
    public DateTimeOffset RegisteredAt { get; set; }
    public DateTimeOffset LastHeartbeatAt { get; set; }
}

public class StreamTagEntity
{
    public long StreamId { get; set; }
    public required string Key { get; set; }
    public string Value { get; set; } = "";
}

/// <summary>A registered (enhanced fan-out) consumer of a stream.</summary>
public class StreamConsumerEntity
{
    public long Id { get; set; }
    public long StreamId { get; set; }
    public required string Name { get; set; }
    public required string Arn { get; set; }
    public required string Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// A consumer application's lease and checkpoint for one shard, in the shape of the KCL lease table:
/// one worker holds a lease at a time (LeaseOwner, LeaseCounter bumped on renewal), and Checkpoint is
/// the last sequence number the application finished.
/// </summary>
public class LeaseEntity
{
    public required string ApplicationName { get; set; }
    public long StreamId { get; set; }
    public int ShardIndex { get; set; }
    public string? Checkpoint { get; set; }
    public string? LeaseOwner { get; set; }
    public long LeaseCounter { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    /// <summary>Comma-separated parent shard indexes that must be finished before this shard is read.</summary>
    public string? ParentShardIndexes { get; set; }
}

/// <summary>
/// An access key for Signature V4 and the principal it signs as. Verifying a signature needs the secret itself,
/// so it is kept, sealed with AES-GCM under the deployment's master key (never in plain text).
/// </summary>
public class AccessKeyEntity
{
    public required string AccessKeyId { get; set; }
    /// <summary>base64(nonce | ciphertext | tag) of the UTF-8 secret, sealed with the access key id as associated data.</summary>
    public required string EncryptedSecret { get; set; }
    /// <summary>The IAM-style user the key belongs to; errors name it as <c>arn:aws:iam::account:user/UserName</c>.</summary>
    public required string UserName { get; set; }
    /// <summary>The identity policy (IAM JSON) of this principal; none allows nothing.</summary>
    public string? PolicyDocument { get; set; }
    public string? Description { get; set; }
    public bool Enabled { get; set; } = true;
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One audited API call or control-plane decision.</summary>
public class AuditEntryEntity
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; }
    public required string Principal { get; set; }
    public required string Operation { get; set; }
    public string? Resource { get; set; }
    public required string Outcome { get; set; }
    public string? Details { get; set; }
}
