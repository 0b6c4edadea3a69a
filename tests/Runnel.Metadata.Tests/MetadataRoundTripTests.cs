using Microsoft.EntityFrameworkCore;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Tests;

/// <summary>
/// The same behaviour on every provider: what is saved comes back unchanged, the concurrency tokens
/// fence stale writers, and hash-key ranges compare numerically in SQL.
/// </summary>
public abstract class MetadataRoundTripTests<TFixture>(TFixture store) where TFixture : MetadataStoreFixture
{
    private static readonly UInt128 MaxHashKey = UInt128.MaxValue;

    /// <summary>Postgres stores microseconds and UTC offsets only; SQLite stores ticks. Both keep this value exactly.</summary>
    private static readonly DateTimeOffset At = new(2026, 3, 14, 15, 9, 26, 535, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    private async Task<StreamEntity> AddStreamAsync(int shardCount, string? name = null)
    {
        var stream = new StreamEntity
        {
            Name = name ?? Unique("stream"),
            Status = StreamStatuses.Active,
            CreatedAt = At,
            NextShardIndex = shardCount,
        };
        var width = MaxHashKey / (UInt128)shardCount;
        for (var i = 0; i < shardCount; i++)
        {
            stream.Shards.Add(new ShardEntity
            {
                ShardIndex = i,
                HashKeyStart = width * (UInt128)i + (i == 0 ? UInt128.Zero : (UInt128)i),
                HashKeyEnd = i == shardCount - 1 ? MaxHashKey : width * (UInt128)(i + 1) + (UInt128)i,
                StartingSequenceNumber = $"{i + 1}0000",
                CreatedAt = At,
            });
        }
        await using var db = store.CreateContext();
        db.Streams.Add(stream);
        await db.SaveChangesAsync(Ct);
        return stream;
    }

    [Fact]
    public void Migrations_were_applied_from_an_empty_store()
    {
        using var db = store.CreateContext();
        var all = db.Database.GetMigrations().ToList();
        Assert.NotEmpty(all);
        Assert.Equal(all, store.AppliedOnCreate);
        Assert.Equal(all, db.Database.GetAppliedMigrations());
        Assert.Empty(db.Database.GetPendingMigrations());
    }

    [Fact]
    public async Task Migrating_again_applies_nothing()
    {
        var applied = await MetadataMigrations.MigrateAsync(store.Services, Ct);
        Assert.Empty(applied);
    }

    [Fact]
    public async Task Stream_with_shards_and_tags_round_trips_including_the_largest_hash_key()
    {
        var stream = await AddStreamAsync(3);
        await using (var db = store.CreateContext())
        {
            db.StreamTags.Add(new StreamTagEntity { StreamId = stream.Id, Key = "team", Value = "ingest" });
            db.StreamTags.Add(new StreamTagEntity { StreamId = stream.Id, Key = "empty" });
            await db.SaveChangesAsync(Ct);
        }

        await using var read = store.CreateContext();
        var loaded = await read.Streams.Include(s => s.Shards).Include(s => s.Tags).SingleAsync(s => s.Id == stream.Id, Ct);
        Assert.Equal(stream.Name, loaded.Name);
        Assert.Equal(StreamStatuses.Active, loaded.Status);
        Assert.Equal(StreamModes.Provisioned, loaded.Mode);
        Assert.Equal(24, loaded.RetentionHours);
        Assert.Equal(1024, loaded.MaxRecordSizeKiB);
        Assert.Equal("NONE", loaded.EncryptionType);
        Assert.Null(loaded.KeyId);
        Assert.Equal(3, loaded.NextShardIndex);
        Assert.Equal(At, loaded.CreatedAt);

        var shards = loaded.Shards.OrderBy(s => s.ShardIndex).ToList();
        Assert.Equal(stream.Shards.Select(s => (s.HashKeyStart, s.HashKeyEnd)), shards.Select(s => (s.HashKeyStart, s.HashKeyEnd)));
        Assert.Equal(UInt128.Zero, shards[0].HashKeyStart);
        Assert.Equal(MaxHashKey, shards[^1].HashKeyEnd);
        Assert.Equal("340282366920938463463374607431768211455", shards[^1].HashKeyEnd.ToString());
        Assert.All(shards, s => Assert.Null(s.ClosedAt));

        Assert.Equal(
            [("empty", ""), ("team", "ingest")],
            loaded.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => (t.Key, t.Value)));
    }

    [Fact]
    public async Task Hash_key_ranges_compare_numerically_in_queries()
    {
        var stream = await AddStreamAsync(4);
        await using var db = store.CreateContext();

        // 10 < 9 as text unless zero-padded: these probe both ends and the digit-count boundary.
        foreach (var key in new[] { UInt128.Zero, (UInt128)9, (UInt128)10, MaxHashKey / 2, MaxHashKey - 1, MaxHashKey })
        {
            var expected = stream.Shards.Single(s => s.HashKeyStart <= key && key <= s.HashKeyEnd).ShardIndex;
            var owner = await db.Shards
                .Where(s => s.StreamId == stream.Id && s.HashKeyStart <= key && s.HashKeyEnd >= key)
                .Select(s => s.ShardIndex)
                .SingleAsync(Ct);
            Assert.Equal(expected, owner);
        }

        var ordered = await db.Shards.Where(s => s.StreamId == stream.Id).OrderBy(s => s.HashKeyStart).Select(s => s.ShardIndex).ToListAsync(Ct);
        Assert.Equal([0, 1, 2, 3], ordered);
    }

    [Fact]
    public async Task Shard_lineage_and_closing_round_trip()
    {
        var stream = await AddStreamAsync(2);
        await using (var db = store.CreateContext())
        {
            var parents = await db.Shards.Where(s => s.StreamId == stream.Id).OrderBy(s => s.ShardIndex).ToListAsync(Ct);
            foreach (var parent in parents)
            {
                parent.ClosedAt = At.AddMinutes(1);
                parent.EndingSequenceNumber = "99999999999999999999999999999999999999999999999999999999";
            }
            db.Shards.Add(new ShardEntity
            {
                StreamId = stream.Id,
                ShardIndex = 2,
                HashKeyStart = UInt128.Zero,
                HashKeyEnd = MaxHashKey,
                ParentShardIndex = 0,
                AdjacentParentShardIndex = 1,
                StartingSequenceNumber = "30000",
                CreatedAt = At.AddMinutes(1),
            });
            var row = await db.Streams.SingleAsync(s => s.Id == stream.Id, Ct);
            row.NextShardIndex = 3;
            row.Version++;
            await db.SaveChangesAsync(Ct);
        }

        await using var read = store.CreateContext();
        var child = await read.Shards.SingleAsync(s => s.StreamId == stream.Id && s.ShardIndex == 2, Ct);
        Assert.Equal(0, child.ParentShardIndex);
        Assert.Equal(1, child.AdjacentParentShardIndex);
        var closed = await read.Shards.Where(s => s.StreamId == stream.Id && s.ClosedAt != null).CountAsync(Ct);
        Assert.Equal(2, closed);
    }

    [Fact]
    public async Task Stream_names_are_unique()
    {
        var name = Unique("dup");
        await AddStreamAsync(1, name);
        await Assert.ThrowsAsync<DbUpdateException>(() => AddStreamAsync(1, name));
    }

    [Fact]
    public async Task A_stale_stream_version_is_rejected()
    {
        var stream = await AddStreamAsync(1);
        await using var first = store.CreateContext();
        await using var second = store.CreateContext();
        var a = await first.Streams.SingleAsync(s => s.Id == stream.Id, Ct);
        var b = await second.Streams.SingleAsync(s => s.Id == stream.Id, Ct);

        a.RetentionHours = 48;
        a.Version++;
        await first.SaveChangesAsync(Ct);

        b.RetentionHours = 72;
        b.Version++;
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => second.SaveChangesAsync(Ct));

        await using var read = store.CreateContext();
        Assert.Equal(48, (await read.Streams.SingleAsync(s => s.Id == stream.Id, Ct)).RetentionHours);
    }

    [Fact]
    public async Task Placement_epoch_fences_a_stale_reassignment()
    {
        var stream = await AddStreamAsync(1);
        var (nodeA, nodeB) = (Unique("node-a"), Unique("node-b"));
        await using (var db = store.CreateContext())
        {
            db.StoreNodes.AddRange(
                new StoreNodeEntity { NodeId = nodeA, Address = "http://a:4710", RegisteredAt = At, LastHeartbeatAt = At },
                new StoreNodeEntity { NodeId = nodeB, Address = "http://b:4710", RegisteredAt = At, LastHeartbeatAt = At.AddSeconds(5) });
            db.ShardPlacements.Add(new ShardPlacementEntity { StreamId = stream.Id, ShardIndex = 0, NodeId = nodeA, Epoch = 1, AssignedAt = At });
            await db.SaveChangesAsync(Ct);
        }

        await using var winner = store.CreateContext();
        await using var loser = store.CreateContext();
        var w = await winner.ShardPlacements.SingleAsync(p => p.StreamId == stream.Id && p.ShardIndex == 0, Ct);
        var l = await loser.ShardPlacements.SingleAsync(p => p.StreamId == stream.Id && p.ShardIndex == 0, Ct);

        w.NodeId = nodeB;
        w.Epoch++;
        await winner.SaveChangesAsync(Ct);

        l.NodeId = Unique("node-c");
        l.Epoch++;
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => loser.SaveChangesAsync(Ct));

        await using var read = store.CreateContext();
        var placement = await read.ShardPlacements.SingleAsync(p => p.StreamId == stream.Id && p.ShardIndex == 0, Ct);
        Assert.Equal((nodeB, 2L), (placement.NodeId, placement.Epoch));
    }

    [Fact]
    public async Task Store_nodes_round_trip()
    {
        var id = Unique("node");
        await using (var db = store.CreateContext())
        {
            db.StoreNodes.Add(new StoreNodeEntity { NodeId = id, Address = "http://shardstore-0.shardstore:4710", RegisteredAt = At, LastHeartbeatAt = At.AddSeconds(3) });
            await db.SaveChangesAsync(Ct);
        }
        await using var read = store.CreateContext();
        var node = await read.StoreNodes.SingleAsync(n => n.NodeId == id, Ct);
        Assert.Equal("http://shardstore-0.shardstore:4710", node.Address);
        Assert.Equal(At, node.RegisteredAt);
        Assert.Equal(At.AddSeconds(3), node.LastHeartbeatAt);
        // Liveness queries compare timestamps in SQL, which SQLite can only do on the ticks encoding.
        Assert.True(await read.StoreNodes.AnyAsync(n => n.NodeId == id && n.LastHeartbeatAt > At, Ct));
    }

    [Fact]
    public async Task Consumers_are_unique_per_stream_and_deleted_with_it()
    {
        var stream = await AddStreamAsync(1);
        await using (var db = store.CreateContext())
        {
            db.StreamConsumers.Add(new StreamConsumerEntity
            {
                StreamId = stream.Id,
                Name = "app",
                Arn = $"arn:aws:kinesis:us-east-1:000000000000:stream/{stream.Name}/consumer/app:1",
                Status = "ACTIVE",
                CreatedAt = At,
            });
            await db.SaveChangesAsync(Ct);
        }
        await using (var db = store.CreateContext())
        {
            db.StreamConsumers.Add(new StreamConsumerEntity { StreamId = stream.Id, Name = "app", Arn = "x", Status = "CREATING", CreatedAt = At });
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync(Ct));
        }
        await using (var db = store.CreateContext())
        {
            var consumer = await db.StreamConsumers.SingleAsync(c => c.StreamId == stream.Id, Ct);
            Assert.EndsWith("/consumer/app:1", consumer.Arn);
            Assert.Equal(At, consumer.CreatedAt);

            db.Streams.Remove(await db.Streams.SingleAsync(s => s.Id == stream.Id, Ct));
            await db.SaveChangesAsync(Ct);
        }
        await using var read = store.CreateContext();
        Assert.False(await read.StreamConsumers.AnyAsync(c => c.StreamId == stream.Id, Ct));
        Assert.False(await read.Shards.AnyAsync(s => s.StreamId == stream.Id, Ct));
        Assert.False(await read.StreamTags.AnyAsync(t => t.StreamId == stream.Id, Ct));
    }

    [Fact]
    public async Task Lease_counter_fences_a_stale_owner_and_checkpoints_round_trip()
    {
        var stream = await AddStreamAsync(1);
        var app = Unique("app");
        await using (var db = store.CreateContext())
        {
            db.Leases.Add(new LeaseEntity
            {
                ApplicationName = app,
                StreamId = stream.Id,
                ShardIndex = 0,
                LeaseOwner = "worker-1",
                LeaseCounter = 1,
                LeaseExpiresAt = At.AddSeconds(10),
                ParentShardIndexes = "3,4",
            });
            await db.SaveChangesAsync(Ct);
        }

        await using var taker = store.CreateContext();
        await using var stale = store.CreateContext();
        var t = await taker.Leases.SingleAsync(l => l.ApplicationName == app, Ct);
        var s = await stale.Leases.SingleAsync(l => l.ApplicationName == app, Ct);

        t.LeaseOwner = "worker-2";
        t.LeaseCounter++;
        t.Checkpoint = "49590338271490256608559692538361571095921575989136588898";
        await taker.SaveChangesAsync(Ct);

        s.Checkpoint = "1";
        s.LeaseCounter++;
        await Assert.ThrowsAsync<DbUpdateConcurrencyException>(() => stale.SaveChangesAsync(Ct));

        await using var read = store.CreateContext();
        var lease = await read.Leases.SingleAsync(l => l.ApplicationName == app, Ct);
        Assert.Equal("worker-2", lease.LeaseOwner);
        Assert.Equal(2, lease.LeaseCounter);
        Assert.Equal("49590338271490256608559692538361571095921575989136588898", lease.Checkpoint);
        Assert.Equal("3,4", lease.ParentShardIndexes);
        Assert.Equal(At.AddSeconds(10), lease.LeaseExpiresAt);
    }

    [Fact]
    public async Task Access_keys_round_trip()
    {
        var id = "AKIA" + Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();
        await using (var db = store.CreateContext())
        {
            db.AccessKeys.Add(new AccessKeyEntity
            {
                AccessKeyId = id, EncryptedSecret = "c2VhbGVk", UserName = "ci", PolicyDocument = "{\"Statement\":[]}", Description = "ci", CreatedAt = At,
            });
            await db.SaveChangesAsync(Ct);
        }
        await using var read = store.CreateContext();
        var key = await read.AccessKeys.SingleAsync(k => k.AccessKeyId == id, Ct);
        Assert.Equal("c2VhbGVk", key.EncryptedSecret);
        Assert.Equal("ci", key.UserName);
        Assert.Equal("{\"Statement\":[]}", key.PolicyDocument);
        Assert.True(key.Enabled);
        Assert.Equal("ci", key.Description);
    }

    [Fact]
    public async Task Audit_entries_get_increasing_ids_and_filter_by_time()
    {
        var principal = Unique("user");
        await using (var db = store.CreateContext())
        {
            for (var i = 0; i < 3; i++)
            {
                db.AuditEntries.Add(new AuditEntryEntity
                {
                    At = At.AddSeconds(i),
                    Principal = principal,
                    Operation = "CreateStream",
                    Resource = "arn:aws:kinesis:us-east-1:000000000000:stream/s",
                    Outcome = i == 2 ? "ResourceInUseException" : "OK",
                    Details = "{\"shardCount\":" + i + "}",
                });
                await db.SaveChangesAsync(Ct);
            }
        }
        await using var read = store.CreateContext();
        var entries = await read.AuditEntries.Where(a => a.Principal == principal).OrderBy(a => a.Id).ToListAsync(Ct);
        Assert.Equal(3, entries.Count);
        Assert.True(entries[0].Id < entries[1].Id && entries[1].Id < entries[2].Id);
        Assert.Equal([At, At.AddSeconds(1), At.AddSeconds(2)], entries.Select(e => e.At));
        var later = await read.AuditEntries.Where(a => a.Principal == principal && a.At >= At.AddSeconds(1)).CountAsync(Ct);
        Assert.Equal(2, later);
        Assert.Equal("ResourceInUseException", entries[2].Outcome);
    }
}

public sealed class PostgresMetadataTests(PostgresStoreFixture store)
    : MetadataRoundTripTests<PostgresStoreFixture>(store), IClassFixture<PostgresStoreFixture>;

public sealed class SqliteMetadataTests(SqliteStoreFixture store)
    : MetadataRoundTripTests<SqliteStoreFixture>(store), IClassFixture<SqliteStoreFixture>;
