using Runnel.Core.Storage;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>Reopening after a restart or a crash: what is kept, what is truncated, what is reported as corrupt.</summary>
public sealed class ShardLogRecoveryTests
{
    private static readonly ShardRef Shard = new(7, 0);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Data_and_ordinals_survive_a_restart()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 8 * 1024 });
        await f.Store.OpenShardAsync(Shard, 3, StoreFixture.Day, Ct);
        for (var i = 0; i < 10; i++)
            await f.Store.AppendAsync(Shard, 3, StoreFixture.Batch(10, size: 200), Ct);

        await f.ReopenAsync();

        var state = await f.Store.GetStateAsync(Shard, Ct);
        Assert.Equal(100UL, state.NextOrdinal);
        Assert.Equal(3, state.Epoch);
        var next = await f.Store.AppendAsync(Shard, 3, StoreFixture.Batch(1), Ct);
        Assert.Equal(100UL, next.FirstOrdinal);
        var all = await f.ReadAllAsync(Shard);
        Assert.Equal(101, all.Count);
        Assert.Equal(StoreFixture.Filler(200, 7), all[57].Data.ToArray());

        // Index files of complete segments are optional: without them the segments are rescanned.
        await f.ReopenAsync(() =>
        {
            foreach (var idx in Directory.GetFiles(f.ShardDirectory(Shard), "*.idx"))
                File.Delete(idx);
        });
        Assert.Equal(101, (await f.ReadAllAsync(Shard)).Count);
        Assert.NotEmpty(Directory.GetFiles(f.ShardDirectory(Shard), "*.idx"));
    }

    [Fact]
    public async Task A_torn_tail_is_truncated_on_recovery_and_never_half_visible()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 100), Ct);
        var tailFile = f.SegmentFiles(Shard)[^1];
        long validLength = 0;

        await f.ReopenAsync(() =>
        {
            validLength = new FileInfo(tailFile).Length;
            // A frame whose header promises 500 bytes but whose write stopped after 20.
            using var stream = new FileStream(tailFile, FileMode.Append);
            var torn = new byte[28];
            BitConverter.TryWriteBytes(torn, 500u);
            stream.Write(torn);
        });

        Assert.Equal(5, (await f.ReadAllAsync(Shard)).Count);
        Assert.Equal(validLength, new FileInfo(tailFile).Length);
        Assert.Equal(5UL, (await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct)).FirstOrdinal);

        // Garbage after the last flushed position is a torn write too.
        await f.ReopenAsync(() => File.AppendAllText(tailFile, "this is not a frame at all, just noise"));
        Assert.Equal(6, (await f.ReadAllAsync(Shard)).Count);
    }

    [Fact]
    public async Task A_file_cut_in_the_middle_of_a_record_loses_only_that_record()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 100), Ct);
        var tailFile = f.SegmentFiles(Shard)[^1];

        await f.ReopenAsync(() =>
        {
            using var stream = new FileStream(tailFile, FileMode.Open);
            stream.SetLength(stream.Length - 40);
        });

        var all = await f.ReadAllAsync(Shard);
        Assert.Equal([0UL, 1, 2, 3], all.Select(r => r.Ordinal));
        Assert.Equal(4UL, (await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(1), Ct)).FirstOrdinal);
    }

    [Fact]
    public async Task Corruption_of_acknowledged_data_is_detected_not_truncated()
    {
        await using var f = new StoreFixture();
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 100), Ct);
        var tailFile = f.SegmentFiles(Shard)[^1];

        await f.ReopenAsync(() => FlipByte(tailFile, 64 + 150));

        await Assert.ThrowsAsync<LogCorruptedException>(() => f.Store.GetStateAsync(Shard, Ct));
        Assert.True(new FileInfo(tailFile).Length > 64 + 500, "acknowledged data must not be truncated away");
    }

    [Fact]
    public async Task Corruption_in_a_complete_segment_fails_reads()
    {
        await using var f = new StoreFixture(o => o with { SegmentSizeBytes = 4096 });
        await f.Store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
        for (var i = 0; i < 10; i++)
            await f.Store.AppendAsync(Shard, 1, StoreFixture.Batch(5, size: 200), Ct);
        var firstSegment = f.SegmentFiles(Shard)[0];

        await f.ReopenAsync(() => FlipByte(firstSegment, 64 + 100));

        await Assert.ThrowsAsync<LogCorruptedException>(() => f.Store.ReadAsync(Shard, new ReadRequest(0, 10, 1 << 20), Ct));
        var later = await f.Store.ReadAsync(Shard, new ReadRequest(45, 10, 1 << 20), Ct);
        Assert.Equal(45UL, later.Records[0].Ordinal);
    }

    private static void FlipByte(string file, long position)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = position;
        var b = stream.ReadByte();
        stream.Position = position;
        stream.WriteByte((byte)(b ^ 0xFF));
    }
}
