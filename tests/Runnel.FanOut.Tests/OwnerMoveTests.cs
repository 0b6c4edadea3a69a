using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Runnel.Core.Storage;
using Runnel.Core.Wire;
using Runnel.FanOut.Consumers;
using Runnel.FanOut.EventStream;
using Runnel.FanOut.Subscriptions;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.ShardStore.Engine;
using Runnel.TestKit;

namespace Runnel.FanOut.Tests;

/// <summary>
/// A subscription follows its shard to a new owner. Moving a shard is not a product operation yet (a shard's data
/// lives on one node), so the move is staged: the new node gets a copy of the log, the placement names it at a higher
/// epoch, and only it takes writes; the former owner's tail goes quiet and the subscriber must notice by itself.
/// </summary>
public sealed class OwnerMoveTests : IAsyncLifetime
{
    private static readonly ShardSettings Day = new(TimeSpan.FromHours(24));
    private readonly TempDirectory _dir = new("fanout-move");
    private ServiceProvider _services = null!;
    private IDbContextFactory<MetadataDbContext> _db = null!;
    private readonly Dictionary<string, ShardLogStore> _nodes = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Locator(Dictionary<string, ShardLogStore> nodes) : IShardStoreLocator
    {
        public IShardStore ForNode(string nodeId) => nodes[nodeId];
    }

    public async ValueTask InitializeAsync()
    {
        _services = new ServiceCollection()
            .AddRunnelMetadata(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Metadata:Provider"] = "Sqlite",
                ["ConnectionStrings:Metadata"] = $"Data Source={_dir.Combine("metadata.db")}",
            }).Build())
            .BuildServiceProvider();
        await MetadataMigrations.MigrateAsync(_services, Ct);
        _db = _services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        foreach (var node in new[] { "node-a", "node-b" })
            _nodes[node] = new ShardLogStore(new ShardLogStoreOptions { DataDirectory = _dir.Combine(node) });
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _nodes.Values)
            await store.DisposeAsync();
        await _services.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_quiet_former_owner_is_left_for_the_node_the_placement_names()
    {
        long streamId;
        await using (var db = await _db.CreateDbContextAsync(Ct))
        {
            var stream = new StreamEntity { Name = "moving", Status = StreamStatuses.Active, CreatedAt = DateTimeOffset.UtcNow };
            db.Streams.Add(stream);
            await db.SaveChangesAsync(Ct);
            streamId = stream.Id;
            db.ShardPlacements.Add(new ShardPlacementEntity { StreamId = streamId, ShardIndex = 0, NodeId = "node-a", Epoch = 1, AssignedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        var shard = new ShardRef(streamId, 0);
        var options = Options.Create(new FanOutOptions());
        var registry = new ConsumerRegistry(_db, options, TimeProvider.System);
        var consumer = await registry.RegisterAsync(registry.StreamArn("moving"), "c", Ct);
        var subscriber = new ShardSubscriber(registry, new SubscriptionManager(options, TimeProvider.System, new Meters()), _db,
            new Locator(_nodes), options, TimeProvider.System, NullLogger<ShardSubscriber>.Instance);

        AppendRecord[] Records(int from, int count) =>
            [.. Enumerable.Range(from, count).Select(i => new AppendRecord("k", Encoding.UTF8.GetBytes($"r-{i}")))];
        await _nodes["node-a"].OpenShardAsync(shard, 1, Day, Ct);
        await _nodes["node-a"].AppendAsync(shard, 1, Records(0, 3), Ct);

        var pipe = new Pipe();
        var http = new DefaultHttpContext();
        http.Response.Body = pipe.Writer.AsStream();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var subscription = subscriber.SubscribeAsync(
            new SubscribeRequest(consumer.Arn, "shardId-000000000000", new StartingPosition("TRIM_HORIZON", null, null)),
            http.Response, WireFormat.Json, stop.Token);
        var body = pipe.Reader.AsStream();
        var received = new List<string>();

        async Task ReadUntilAsync(int count)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(ShardSubscriber.PlacementCheckInterval * 4);
            while (received.Count < count)
            {
                var prelude = new byte[4];
                await body.ReadExactlyAsync(prelude, deadline.Token);
                var message = new byte[EventStreamCodec.ReadTotalLength(prelude)];
                prelude.CopyTo(message, 0);
                await body.ReadExactlyAsync(message.AsMemory(4), deadline.Token);
                var e = EventStreamCodec.Decode(message);
                Assert.Equal("event", e.HeaderString(":message-type"));
                if (e.HeaderString(":event-type") != "SubscribeToShardEvent")
                    continue;
                using var doc = JsonDocument.Parse(e.Payload);
                received.AddRange(doc.RootElement.GetProperty("Records").EnumerateArray()
                    .Select(r => Encoding.UTF8.GetString(r.GetProperty("Data").GetBytesFromBase64())));
            }
        }

        await ReadUntilAsync(3);

        // The move: a copy of the log on node-b, the placement at epoch 2, and the next writes there only.
        await _nodes["node-b"].OpenShardAsync(shard, 2, Day, Ct);
        await _nodes["node-b"].AppendAsync(shard, 2, Records(0, 3), Ct);
        await using (var db = await _db.CreateDbContextAsync(Ct))
        {
            var placement = await db.ShardPlacements.SingleAsync(p => p.StreamId == streamId, Ct);
            placement.NodeId = "node-b";
            placement.Epoch = 2;
            await db.SaveChangesAsync(Ct);
        }
        await _nodes["node-b"].AppendAsync(shard, 2, Records(3, 2), Ct);

        await ReadUntilAsync(5);
        Assert.Equal(["r-0", "r-1", "r-2", "r-3", "r-4"], received);
        Assert.False(subscription.IsCompleted);
        await stop.CancelAsync();
        await subscription;
    }
}
