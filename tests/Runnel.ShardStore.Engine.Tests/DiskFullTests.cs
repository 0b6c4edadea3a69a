using Runnel.Core.Storage;
using Runnel.TestKit;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>The store on a file system that really fills up: refusals before the disk is full, recovery after.</summary>
public sealed class DiskFullTests
{
    private const int RecordBytes = 256 * 1024;
    private static readonly ShardRef A = new(41, 0);
    private static readonly ShardRef B = new(42, 0);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ShardLogStoreOptions Options(string directory, long minFree) => new()
    {
        DataDirectory = directory,
        RetentionCheckInterval = TimeSpan.Zero,
        SegmentSizeBytes = 1024 * 1024,
        MinFreeDiskBytes = minFree,
    };

    private static AppendRecord[] One(int seed) => [new AppendRecord($"pk-{seed}", StoreFixture.Filler(RecordBytes, seed))];

    /// <summary>Appends one record at a time until one is refused; returns the acknowledged count and the refusal.</summary>
    private static async Task<(int Acknowledged, Exception Refusal)> FillAsync(ShardLogStore store, ShardRef shard, int seedBase)
    {
        for (var i = 0; i < 400; i++)
        {
            try
            {
                await store.AppendAsync(shard, 1, One(seedBase + i), Ct);
            }
            catch (IOException e)
            {
                return (i, e);
            }
        }
        throw new InvalidOperationException("400 appends of 256 KiB fitted on a 24 MiB file system.");
    }

    private static async Task AssertRecordsAsync(ShardLogStore store, ShardRef shard, int count, int seedBase)
    {
        var read = await store.ReadAsync(shard, new ReadRequest(0, 10_000, int.MaxValue), Ct);
        var all = new List<StoredRecord>(read.Records);
        while (read.Records.Count > 0)
        {
            read = await store.ReadAsync(shard, new ReadRequest(read.NextOrdinal, 10_000, int.MaxValue), Ct);
            all.AddRange(read.Records);
        }
        Assert.Equal(count, all.Count);
        for (var i = 0; i < count; i++)
            Assert.Equal(StoreFixture.Filler(RecordBytes, seedBase + i), all[i].Data.ToArray());
    }

    [Fact]
    public async Task Appends_are_refused_before_the_disk_is_full_and_resume_when_space_returns()
    {
        using var disk = new SmallFileSystem(24 * 1024 * 1024);
        var options = Options(Path.Combine(disk.Path, "data"), minFree: 4 * 1024 * 1024);
        var store = new ShardLogStore(options);
        try
        {
            await store.OpenShardAsync(A, 1, StoreFixture.Day, Ct);
            var ballast = disk.FillLeaving(12 * 1024 * 1024);

            var (acknowledged, refusal) = await FillAsync(store, A, 0);
            Assert.IsType<StorageFullException>(refusal);
            Assert.True(acknowledged > 0, "some appends fit before the reserve");
            Assert.Null(store.Fault);
            Assert.True(store.LowOnSpace);
            Assert.True(disk.AvailableBytes > 2 * 1024 * 1024, $"the reserve stayed free ({disk.AvailableBytes} bytes)");
            await AssertRecordsAsync(store, A, acknowledged, 0);

            File.Delete(ballast);
            await Wait.UntilAsync(async () =>
            {
                try
                {
                    await store.AppendAsync(A, 1, One(acknowledged), Ct);
                    return true;
                }
                catch (StorageFullException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(30), "appends accepted again after the ballast was deleted", cancellationToken: Ct);
            Assert.False(store.LowOnSpace);

            await store.DisposeAsync();
            store = new ShardLogStore(options);
            await AssertRecordsAsync(store, A, acknowledged + 1, 0);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Deleting_a_shard_on_a_full_disk_frees_its_space_for_the_others()
    {
        using var disk = new SmallFileSystem(24 * 1024 * 1024);
        await using var store = new ShardLogStore(Options(Path.Combine(disk.Path, "data"), minFree: 4 * 1024 * 1024));
        await store.OpenShardAsync(A, 1, StoreFixture.Day, Ct);
        await store.OpenShardAsync(B, 1, StoreFixture.Day, Ct);
        await store.AppendAsync(B, 1, One(1000), Ct);

        var (filled, refusal) = await FillAsync(store, A, 0);
        Assert.IsType<StorageFullException>(refusal);
        Assert.True(filled > 10, $"shard A took most of the disk ({filled} records)");
        await Assert.ThrowsAsync<StorageFullException>(() => store.AppendAsync(B, 1, One(1001), Ct));

        await store.DeleteShardAsync(A, Ct);
        Assert.False(Directory.Exists(Path.Combine(disk.Path, "data", "41", "0")));
        await Wait.UntilAsync(async () =>
        {
            try
            {
                await store.AppendAsync(B, 1, One(1001), Ct);
                return true;
            }
            catch (StorageFullException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "appends to the other shard accepted once the deleted shard's files are gone", cancellationToken: Ct);
        await AssertRecordsAsync(store, B, 2, 1000);
    }

    [Fact]
    public async Task A_store_faulted_by_a_real_out_of_space_error_still_deletes_and_recovers_every_acknowledged_record()
    {
        using var disk = new SmallFileSystem(24 * 1024 * 1024);
        // No reserve: the writes run into the kernel's ENOSPC, which faults the store.
        var options = Options(Path.Combine(disk.Path, "data"), minFree: 0);
        var store = new ShardLogStore(options);
        try
        {
            await store.OpenShardAsync(A, 1, StoreFixture.Day, Ct);
            await store.OpenShardAsync(B, 1, StoreFixture.Day, Ct);
            await store.AppendAsync(B, 1, One(1000), Ct);
            var (acknowledged, refusal) = await FillAsync(store, A, 0);
            Assert.IsNotType<StorageFullException>(refusal);
            Assert.NotNull(store.Fault);
            await Assert.ThrowsAsync<IOException>(() => store.AppendAsync(B, 1, One(1001), Ct));
            await Assert.ThrowsAsync<IOException>(() => store.OpenShardAsync(new ShardRef(43, 0), 1, StoreFixture.Day, Ct));

            await store.DeleteShardAsync(A, Ct);
            Assert.False(Directory.Exists(Path.Combine(disk.Path, "data", "41", "0")));

            await store.DisposeAsync();
            store = new ShardLogStore(options);
            await AssertRecordsAsync(store, B, 1, 1000);
            await Assert.ThrowsAsync<ShardNotFoundException>(() => store.ReadAsync(A, new ReadRequest(0, 10, 1000), Ct));
            await store.AppendAsync(B, 1, One(1001), Ct);
            await AssertRecordsAsync(store, B, 2, 1000);
            Assert.True(acknowledged > 0);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }
}
