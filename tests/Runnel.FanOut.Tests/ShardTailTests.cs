using Runnel.Core.Storage;
using Runnel.ShardStore.Engine;
using Runnel.TestKit;

namespace Runnel.FanOut.Tests;

/// <summary>The engine's tail stream: woken by the group-commit writer, coalesced, ended by a seal.</summary>
public sealed class ShardTailTests : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("fanout-tail");
    private ShardLogStore _store = null!;
    private static readonly ShardRef Shard = new(7, 0);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _store = new ShardLogStore(new ShardLogStoreOptions { DataDirectory = _dir.Path });
        await _store.OpenShardAsync(Shard, 1, new ShardSettings(TimeSpan.FromHours(24)), Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Reports_each_commit_then_the_seal_and_ends()
    {
        await using var positions = _store.WatchAsync(Shard, 0, Ct).GetAsyncEnumerator(Ct);
        var next = positions.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted); // nothing to report on an empty shard

        await _store.AppendAsync(Shard, 1, [new AppendRecord("k", new byte[] { 1 })], Ct);
        Assert.True(await next.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Equal(new TailPosition(1, false), positions.Current);

        await _store.AppendAsync(Shard, 1, [new AppendRecord("k", new byte[] { 2 }), new AppendRecord("k", new byte[] { 3 })], Ct);
        Assert.True(await positions.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Equal(new TailPosition(3, false), positions.Current);

        var sealing = positions.MoveNextAsync().AsTask();
        await _store.SealShardAsync(Shard, 1, Ct);
        Assert.True(await sealing.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Equal(new TailPosition(3, true), positions.Current);
        Assert.False(await positions.MoveNextAsync());
    }

    [Fact]
    public async Task Starts_with_what_is_already_there_and_fails_for_an_unknown_shard()
    {
        await _store.AppendAsync(Shard, 1, [new AppendRecord("k", new byte[] { 1 })], Ct);
        await foreach (var p in _store.WatchAsync(Shard, 0, Ct))
        {
            Assert.Equal(new TailPosition(1, false), p);
            break;
        }
        await Assert.ThrowsAsync<ShardNotFoundException>(async () =>
        {
            await foreach (var _ in _store.WatchAsync(new ShardRef(7, 99), 0, Ct))
            {
            }
        });
    }
}
