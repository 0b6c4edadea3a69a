using Runnel.Core.Storage;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>A shard's life after its appends: sealing, epoch fencing, retention, settings and deletion.</summary>
public sealed class ShardLogLifecycleTests
{
    private static readonly ShardRef Shard = new(7, 0);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_sealed_shard_refuses_appends_and_reports_its_end()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(3), Ct);

        var sealedState = await f.Store.SealShardAsync(Shard, 1, Ct);
        Assert.Equal(3UL, sealedState.SealedAtOrdinal);
        Assert.Equal(sealedState, await f.Store.SealShardAsync(Shard, 1, Ct));
        await Assert.ThrowsAsync<ShardSealedException>(() => f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct));

        var partial = await f.Store.ReadAsync(Shard, new ReadRequest(0, 2, 1 << 20), Ct);
        Assert.False(partial.EndOfShard);
        var rest = await f.Store.ReadAsync(Shard, new ReadRequest(partial.NextOrdinal, 10, 1 << 20), Ct);
        Assert.True(rest.EndOfShard);
        Assert.Equal(3UL, rest.NextOrdinal);

        await f.ReopenAsync();
        Assert.Equal(3UL, (await f.Store.GetStateAsync(Shard, Ct)).SealedAtOrdinal);
        await Assert.ThrowsAsync<ShardSealedException>(() => f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct));
    }

    [Fact]
    public async Task Lower_epochs_are_fenced_and_the_highest_epoch_persists()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 2, StoreFixture.Day, Ct);

        await Assert.ThrowsAsync<ShardNotOwnedException>(() => f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct));
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct));
        await f.Store.AppendAsync(Shard, 2, StoreFixture.Batch(1), Ct);
        await f.Store.AppendAsync(Shard, 3, StoreFixture.Batch(1), Ct);
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => f.Store.AppendAsync(Shard, 2, StoreFixture.Batch(1), Ct));
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => f.Store.SealShardAsync(Shard, 2, Ct));

        await f.ReopenAsync();
        Assert.Equal(3, (await f.Store.GetStateAsync(Shard, Ct)).Epoch);
        await Assert.ThrowsAsync<ShardNotOwnedException>(() => f.Store.AppendAsync(Shard, 2, StoreFixture.Batch(1), Ct));
        Assert.Equal(2UL, (await f.Store.AppendAsync(Shard, 3, StoreFixture.Batch(1), Ct)).FirstOrdinal);
    }

    [Fact]
    public async Task Retention_deletes_expired_segments_and_moves_the_trim_point()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 4096 });
        await f.Store.OpenShardAsync(Shard, 1, new ShardSettings(TimeSpan.FromHours(1)), Ct);
        for (var i = 0; i < 10; i++)
            await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 200), Ct);
        var oldSegments = f.SegmentFiles(Shard);
        f.Time.Advance(TimeSpan.FromMinutes(61));
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 200), Ct);

        await f.Store.RunRetentionAsync(Ct);

        var state = await f.Store.GetStateAsync(Shard, Ct);
        Assert.True(state.TrimOrdinal > 0, "expired segments must move the trim ordinal");
        Assert.True(state.TrimOrdinal <= 50, "the fresh records must be kept");
        foreach (var file in oldSegments[..^1])
            Assert.False(File.Exists(file), $"{Path.GetFileName(file)} should have been deleted");
        var read = await f.Store.ReadAsync(Shard, new ReadRequest(0, 1000, 1 << 20), Ct);
        Assert.Equal(state.TrimOrdinal, read.Records[0].Ordinal);
        Assert.Equal(54UL, read.Records[^1].Ordinal);

        // An idle shard whose newest records expired loses them too: the tail is closed and deleted.
        f.Time.Advance(TimeSpan.FromHours(2));
        await f.Store.RunRetentionAsync(Ct);
        state = await f.Store.GetStateAsync(Shard, Ct);
        Assert.Equal(55UL, state.TrimOrdinal);
        Assert.Equal(55UL, state.NextOrdinal);
        Assert.Empty((await f.Store.ReadAsync(Shard, new ReadRequest(0, 10, 1 << 20), Ct)).Records);
        Assert.Equal(55UL, (await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct)).FirstOrdinal);

        await f.ReopenAsync();
        Assert.Equal(55UL, (await f.Store.GetStateAsync(Shard, Ct)).TrimOrdinal);
        Assert.Equal(56UL, (await f.Store.GetStateAsync(Shard, Ct)).NextOrdinal);
    }

    [Fact]
    public async Task Settings_update_changes_retention()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 4096 });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        for (var i = 0; i < 5; i++)
            await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 200), Ct);
        f.Time.Advance(TimeSpan.FromHours(2));
        await f.Store.RunRetentionAsync(Ct);
        Assert.Equal(0UL, (await f.Store.GetStateAsync(Shard, Ct)).TrimOrdinal);

        await f.Store.UpdateSettingsAsync(Shard, new ShardSettings(TimeSpan.FromHours(1)), Ct);
        await f.ReopenAsync();
        await f.Store.RunRetentionAsync(Ct);
        Assert.Equal(25UL, (await f.Store.GetStateAsync(Shard, Ct)).TrimOrdinal);
    }

    [Fact]
    public async Task Deleting_a_shard_removes_its_files()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(3), Ct);

        await f.Store.DeleteShardAsync(Shard, Ct);
        await f.Store.DeleteShardAsync(Shard, Ct);

        Assert.False(Directory.Exists(f.ShardDirectory(Shard)));
        await Assert.ThrowsAsync<ShardNotFoundException>(() => f.Store.ReadAsync(Shard, new ReadRequest(0, 10, 1000), Ct));
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        Assert.Equal(0UL, (await f.Store.GetStateAsync(Shard, Ct)).NextOrdinal);
        // The files themselves are removed in the background, out of the writer's way.
        var trash = Path.Combine(f.DataDirectory, "trash");
        await TestKit.Wait.UntilAsync(() => !Directory.Exists(trash) || !Directory.EnumerateFileSystemEntries(trash).Any(),
            TimeSpan.FromSeconds(10), "the deleted shard's files to be removed", cancellationToken: Ct);
        Assert.Equal([Shard], f.Store.ListShards());
    }

    [Fact]
    public async Task Deleted_shard_files_a_crash_left_in_the_trash_are_removed_at_the_next_open()
    {
        await using var f = new StoreFixture();
        var left = Path.Combine(f.DataDirectory, "trash", "left-by-a-crash");
        Directory.CreateDirectory(left);
        await File.WriteAllBytesAsync(Path.Combine(left, "seg-00000000.000000.log"), new byte[4096], Ct);

        await f.ReopenAsync();

        await TestKit.Wait.UntilAsync(() => !Directory.Exists(left), TimeSpan.FromSeconds(10), "the leftover to be removed", cancellationToken: Ct);
        Assert.Empty(f.Store.ListShards());
    }
}
