using System.Text;
using Runnel.Core.Storage;
using Runnel.ShardStore.Client;
using Runnel.ShardStore.Client.Wire;
using Runnel.TestKit;

namespace Runnel.ShardStore.Tests;

/// <summary>
/// The remote tail stream, <c>GET internal/shards/{stream}/{shard}/tail?from=N</c>, on a real node: raw frames (next
/// ordinal + flags), the idle heartbeat, the end at a seal or a delete, a start beyond the tip, and a client that
/// reconnects from the position it last saw.
/// </summary>
public sealed class TailEndpointTests
{
    private static readonly ShardSettings Day = new(TimeSpan.FromHours(24));
    private static long _nextStream = Random.Shared.Next(1_000_000, 2_000_000);

    private static ShardRef NewShard() => new(Interlocked.Increment(ref _nextStream), 0);

    private static AppendRecord[] Batch(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new AppendRecord($"key-{i}", Encoding.UTF8.GetBytes($"data-{i}")))];

    private sealed class Node(ShardStoreCluster cluster, Uri address, IShardStore store, ShardRef shard) : IAsyncDisposable
    {
        public IShardStore Store { get; } = store;
        public ShardRef Shard { get; } = shard;
        public HttpClient Http { get; } = new() { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan, DefaultRequestHeaders = { { InternalListener.TokenHeader, InternalListener.Token } } };

        public async Task<TailReader> TailAsync(ulong from, CancellationToken ct)
        {
            var response = await Http.GetAsync($"{ShardStoreWire.RoutePrefix}/{Shard.StreamId}/{Shard.ShardIndex}/tail?from={from}", HttpCompletionOption.ResponseHeadersRead, ct);
            return new TailReader(response, await response.Content.ReadAsStreamAsync(ct));
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await cluster.DisposeAsync();
        }
    }

    /// <summary>
    /// Reads 9-byte frames off a raw tail response. A read is never cancelled (that would close the connection): a
    /// pending one is kept and awaited again by the next call.
    /// </summary>
    private sealed class TailReader(HttpResponseMessage response, Stream body) : IDisposable
    {
        private Task<byte[]?>? _pending;

        public HttpResponseMessage Response { get; } = response;

        private async Task<byte[]?> ReadFrameAsync()
        {
            var frame = new byte[ShardStoreWire.TailFrameSize];
            var read = await body.ReadAtLeastAsync(frame, frame.Length, throwOnEndOfStream: false);
            if (read == 0)
                return null;
            Assert.Equal(frame.Length, read);
            return frame;
        }

        /// <summary>The next frame, or null when the response ended; throws TimeoutException if nothing arrives within <paramref name="within"/>.</summary>
        public async Task<(TailPosition Position, bool Heartbeat)?> NextAsync(TimeSpan within, CancellationToken ct)
        {
            _pending ??= ReadFrameAsync();
            var frame = await _pending.WaitAsync(within, ct);
            _pending = null;
            return frame is null ? null : ShardStoreWire.ReadTailFrame(frame);
        }

        /// <summary>Frames until one reports at least <paramref name="next"/> (frames are coalesced, so some may be skipped).</summary>
        public async Task<TailPosition> UntilAsync(ulong next, CancellationToken ct)
        {
            while (true)
            {
                var frame = await NextAsync(TimeSpan.FromSeconds(15), ct);
                Assert.NotNull(frame);
                if (!frame.Value.Heartbeat && frame.Value.Position.NextOrdinal >= next)
                    return frame.Value.Position;
            }
        }

        /// <summary>True if no frame but a heartbeat arrives within <paramref name="quiet"/> (a bounded wait for an absence).</summary>
        public async Task<bool> SilentForAsync(TimeSpan quiet, CancellationToken ct)
        {
            try
            {
                var frame = await NextAsync(quiet, ct);
                return frame is { Heartbeat: true };
            }
            catch (TimeoutException)
            {
                return true;
            }
        }

        public void Dispose()
        {
            body.Dispose();
            Response.Dispose();
        }
    }

    private static async Task<Node> StartAsync(CancellationToken ct)
    {
        var cluster = await ShardStoreCluster.SqliteAsync();
        var app = await cluster.StartNodeAsync("node-t");
        var shard = NewShard();
        await cluster.PlaceAsync(shard, "node-t", 1);
        var store = cluster.Locator.ForNode("node-t");
        await store.OpenShardAsync(shard, 1, Day, ct);
        return new Node(cluster, cluster.InternalAddressOf(app), store, shard);
    }

    [Fact]
    public async Task Frames_follow_each_commit_and_a_seal_ends_the_stream()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = await StartAsync(ct);
        using var tail = await node.TailAsync(0, ct);
        Assert.True(tail.Response.IsSuccessStatusCode);
        Assert.Equal(ShardStoreWire.ContentType, tail.Response.Content.Headers.ContentType?.MediaType);

        await node.Store.AppendAsync(node.Shard, 1, Batch(3), ct);
        var first = await tail.UntilAsync(3, ct);
        Assert.Equal(new TailPosition(3, false), first);
        await node.Store.AppendAsync(node.Shard, 1, Batch(2), ct);
        Assert.Equal(new TailPosition(5, false), await tail.UntilAsync(5, ct));

        await node.Store.SealShardAsync(node.Shard, 1, ct);
        var sealedFrame = await tail.NextAsync(TimeSpan.FromSeconds(15), ct);
        Assert.Equal((new TailPosition(5, true), false), sealedFrame);
        Assert.Null(await tail.NextAsync(TimeSpan.FromSeconds(15), ct));

        // Watching a sealed shard answers its end at once and stops.
        using var again = await node.TailAsync(2, ct);
        Assert.Equal((new TailPosition(5, true), false), await again.NextAsync(TimeSpan.FromSeconds(15), ct));
        Assert.Null(await again.NextAsync(TimeSpan.FromSeconds(15), ct));
    }

    [Fact]
    public async Task A_start_beyond_the_tip_waits_until_the_shard_passes_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = await StartAsync(ct);
        await node.Store.AppendAsync(node.Shard, 1, Batch(2), ct);
        using var tail = await node.TailAsync(5, ct);
        Assert.True(tail.Response.IsSuccessStatusCode);
        Assert.True(await tail.SilentForAsync(TimeSpan.FromSeconds(1), ct), "a frame came while the shard was below the start");

        await node.Store.AppendAsync(node.Shard, 1, Batch(3), ct);
        // NextOrdinal is now 5, which is not above the start: still nothing.
        Assert.True(await tail.SilentForAsync(TimeSpan.FromSeconds(1), ct), "a frame came while the shard was at the start");

        await node.Store.AppendAsync(node.Shard, 1, Batch(1), ct);
        Assert.Equal(new TailPosition(6, false), await tail.UntilAsync(6, ct));
    }

    [Fact]
    public async Task An_idle_stream_sends_heartbeats()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = await StartAsync(ct);
        await node.Store.AppendAsync(node.Shard, 1, Batch(1), ct);
        using var tail = await node.TailAsync(1, ct);
        var frame = await tail.NextAsync(ShardStoreWire.TailHeartbeatInterval * 2, ct);
        Assert.NotNull(frame);
        Assert.True(frame.Value.Heartbeat);
        Assert.Equal(new TailPosition(1, false), frame.Value.Position);
    }

    [Fact]
    public async Task Deleting_the_shard_ends_the_stream_and_an_unknown_shard_is_404()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = await StartAsync(ct);
        using var tail = await node.TailAsync(0, ct);
        Assert.True(tail.Response.IsSuccessStatusCode);
        await node.Store.DeleteShardAsync(node.Shard, ct);
        try
        {
            while (await tail.NextAsync(TimeSpan.FromSeconds(15), ct) is { } frame)
                Assert.True(frame.Heartbeat, "only heartbeats may precede the end of a deleted shard's stream");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // An aborted response is an end too.
        }

        using var unknown = await node.Http.GetAsync($"{ShardStoreWire.RoutePrefix}/{node.Shard.StreamId + 999_999}/0/tail?from=0", ct);
        Assert.Equal(404, (int)unknown.StatusCode);
        Assert.Equal(ShardStoreWire.Errors.NotFound, unknown.Headers.GetValues(ShardStoreWire.ErrorHeader).Single());
        var client = (IShardTail)node.Store;
        await Assert.ThrowsAsync<ShardNotFoundException>(async () =>
        {
            await foreach (var _ in client.WatchAsync(node.Shard, 0, ct))
            {
            }
        });
    }

    [Fact]
    public async Task A_client_that_reconnects_from_its_last_position_misses_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var node = await StartAsync(ct);
        var client = Assert.IsType<HttpShardStoreClient>(node.Store);
        ulong seen = 0;
        using (var first = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            await node.Store.AppendAsync(node.Shard, 1, Batch(3), ct);
            await foreach (var position in client.WatchAsync(node.Shard, seen, first.Token))
            {
                seen = position.NextOrdinal;
                if (seen >= 3)
                    break; // the client goes away
            }
        }
        Assert.Equal(3UL, seen);

        // Written while no one watched: the reconnect from 3 reports it at once.
        await node.Store.AppendAsync(node.Shard, 1, Batch(2), ct);
        var positions = new List<TailPosition>();
        using var second = CancellationTokenSource.CreateLinkedTokenSource(ct);
        second.CancelAfter(TimeSpan.FromSeconds(30));
        await foreach (var position in client.WatchAsync(node.Shard, seen, second.Token))
        {
            positions.Add(position);
            if (position.NextOrdinal == 5)
                await node.Store.AppendAsync(node.Shard, 1, Batch(1), ct);
            if (position.NextOrdinal >= 6)
                break;
        }
        Assert.Equal([new TailPosition(5, false), new TailPosition(6, false)], positions);
    }
}
