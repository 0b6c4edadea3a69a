using System.Text;
using Microsoft.EntityFrameworkCore;
using Runnel.Core.Storage;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Client;

namespace Runnel.ShardStore.Tests;

public abstract class ShardStoreNodeTests
{
    private static readonly ShardSettings Day = new(TimeSpan.FromHours(24));
    private static long _nextStream = Random.Shared.Next(1_000, 1_000_000);

    protected abstract Task<ShardStoreCluster> CreateClusterAsync();

    private static ShardRef NewShard(int index = 0) => new(Interlocked.Increment(ref _nextStream), index);

    private static AppendRecord[] Batch(int count, string prefix) =>
        [.. Enumerable.Range(0, count).Select(i => new AppendRecord($"key-{i}", Encoding.UTF8.GetBytes($"{prefix}-{i}")))];

    [Fact]
    public async Task Client_round_trips_every_operation_over_http()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await CreateClusterAsync();
        await cluster.StartNodeAsync("node-a");
        var shard = NewShard();
        await cluster.PlaceAsync(shard, "node-a", 1);
        var store = cluster.Locator.ForNode("node-a");
        Assert.IsType<HttpShardStoreClient>(store);

        await store.OpenShardAsync(shard, 1, Day, ct);
        var first = await store.AppendAsync(shard, 1, Batch(3, "a"), ct);
        var big = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(big);
        var second = await store.AppendAsync(shard, 1, [new AppendRecord("big", big)], ct);

        Assert.Equal(0UL, first.FirstOrdinal);
        Assert.Equal(3, first.Count);
        Assert.Equal(3UL, second.FirstOrdinal);
        var read = await store.ReadAsync(shard, new ReadRequest(0, 100, 10 * 1024 * 1024), ct);
        Assert.Equal([0UL, 1, 2, 3], read.Records.Select(r => r.Ordinal));
        Assert.Equal("a-1", Encoding.UTF8.GetString(read.Records[1].Data.Span));
        Assert.Equal("key-2", read.Records[2].PartitionKey);
        Assert.Equal(big, read.Records[3].Data.ToArray());
        Assert.Equal(4UL, read.NextOrdinal);
        Assert.Equal(0, read.MillisBehindLatest);

        var state = await store.GetStateAsync(shard, ct);
        Assert.Equal(new ShardState(shard, 1, 0, 4, null, second.ArrivalUnixMs), state);
        Assert.Equal(0UL, await store.FindOrdinalAsync(shard, first.ArrivalUnixMs, ct));
        Assert.Equal(4UL, await store.FindOrdinalAsync(shard, second.ArrivalUnixMs + 60_000, ct));
        await store.UpdateSettingsAsync(shard, new ShardSettings(TimeSpan.FromHours(48)), ct);

        var sealedState = await store.SealShardAsync(shard, 1, ct);
        Assert.Equal(4UL, sealedState.SealedAtOrdinal);
        await Assert.ThrowsAsync<ShardSealedException>(() => store.AppendAsync(shard, 1, Batch(1, "late"), ct));
        Assert.True((await store.ReadAsync(shard, new ReadRequest(4, 10, 1000), ct)).EndOfShard);

        await store.DeleteShardAsync(shard, ct);
        await Assert.ThrowsAsync<ShardNotFoundException>(() => store.GetStateAsync(shard, ct));
    }

    [Fact]
    public async Task Errors_map_to_the_contract_exceptions()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await CreateClusterAsync();
        await cluster.StartNodeAsync("node-e");
        var store = cluster.Locator.ForNode("node-e");
        var missing = NewShard();

        await Assert.ThrowsAsync<ShardNotFoundException>(() => store.ReadAsync(missing, new ReadRequest(0, 10, 1000), ct));
        await Assert.ThrowsAsync<ShardNotFoundException>(() => store.GetStateAsync(missing, ct));
        // No placement names this node for the shard: the node refuses to create it.
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => store.OpenShardAsync(missing, 1, Day, ct));
        await Assert.ThrowsAsync<ShardStoreUnavailableException>(() => cluster.Locator.ForNode("no-such-node").GetStateAsync(missing, ct));
    }

    [Fact]
    public async Task Fencing_refuses_a_stale_owner_and_accepts_the_reassigned_epoch()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await CreateClusterAsync();
        await cluster.StartNodeAsync("node-a");
        await cluster.StartNodeAsync("node-b");
        var shard = NewShard();
        await cluster.PlaceAsync(shard, "node-a", 1);
        var a = cluster.Locator.ForNode("node-a");
        var b = cluster.Locator.ForNode("node-b");
        await a.OpenShardAsync(shard, 1, Day, ct);
        await a.AppendAsync(shard, 1, Batch(2, "a"), ct);

        // A higher epoch that the placement does not record is refused, even by the current owner.
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => a.AppendAsync(shard, 2, Batch(1, "x"), ct));
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => b.OpenShardAsync(shard, 1, Day, ct));

        await using (var db = await cluster.DbAsync())
        {
            var moved = await cluster.Planner.ReassignAsync(db, shard, "node-b", ct);
            Assert.Equal(2, moved.Epoch);
            await db.SaveChangesAsync(ct);
        }

        await b.OpenShardAsync(shard, 2, Day, ct);
        Assert.Equal(0UL, (await b.AppendAsync(shard, 2, Batch(1, "b"), ct)).FirstOrdinal);
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => a.AppendAsync(shard, 1, Batch(1, "stale"), ct));
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => a.AppendAsync(shard, 2, Batch(1, "stale"), ct));
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => b.AppendAsync(shard, 1, Batch(1, "stale"), ct));
        Assert.Equal(2UL, (await a.GetStateAsync(shard, ct)).NextOrdinal);
    }

    [Fact]
    public async Task Planner_spreads_new_shards_over_live_nodes_only()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await CreateClusterAsync();
        await cluster.StartNodeAsync("node-p1");
        await cluster.StartNodeAsync("node-p2");
        await using (var db = await cluster.DbAsync())
        {
            db.StoreNodes.Add(new StoreNodeEntity
            {
                NodeId = "node-dead",
                Address = "http://127.0.0.1:1/",
                RegisteredAt = DateTimeOffset.UtcNow.AddHours(-1),
                LastHeartbeatAt = DateTimeOffset.UtcNow.AddMinutes(-5),
            });
            await db.SaveChangesAsync(ct);
        }
        var streamId = Interlocked.Increment(ref _nextStream);

        await using (var db = await cluster.DbAsync())
        {
            var placements = await cluster.Planner.PlaceAsync(db, Enumerable.Range(0, 6).Select(i => new ShardRef(streamId, i)), ct);
            await db.SaveChangesAsync(ct);
            Assert.All(placements, p => Assert.Equal(1, p.Epoch));
        }

        await using (var db = await cluster.DbAsync())
        {
            var byNode = await db.ShardPlacements.Where(p => p.StreamId == streamId).GroupBy(p => p.NodeId)
                .Select(g => new { g.Key, Count = g.Count() }).ToListAsync(ct);
            Assert.Equal(2, byNode.Count);
            Assert.All(byNode, n => Assert.Equal(3, n.Count));
            Assert.DoesNotContain(byNode, n => n.Key == "node-dead");
        }
    }

    [Fact]
    public async Task Node_reports_ready_when_its_data_directory_and_metadata_answer()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await CreateClusterAsync();
        var node = await cluster.StartNodeAsync("node-h");
        using var http = new HttpClient { BaseAddress = new Uri(node.Urls.First()) };
        var response = await http.GetAsync("/health/ready", ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Contains("shardstore-data", body);
        Assert.Contains("metadata", body);
    }
}

public sealed class SqliteShardStoreNodeTests : ShardStoreNodeTests
{
    protected override Task<ShardStoreCluster> CreateClusterAsync() => ShardStoreCluster.SqliteAsync();
}

/// <summary>The same behaviour against PostgreSQL (RUNNEL_TEST_POSTGRES); fails with a clear message when no server is configured.</summary>
public sealed class PostgresShardStoreNodeTests : ShardStoreNodeTests
{
    protected override Task<ShardStoreCluster> CreateClusterAsync() => ShardStoreCluster.PostgresAsync();
}
