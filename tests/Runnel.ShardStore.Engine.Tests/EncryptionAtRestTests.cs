using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Runnel.Core.Storage;
using Runnel.TestKit;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>Sealed frames: plaintext never reaches the files, every key version and the clear records read back, restarts included.</summary>
public sealed class EncryptionAtRestTests
{
    private static readonly ShardRef Shard = new(77, 3);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The keyring the store is given: key versions of one stream and which one seals new records.</summary>
    private sealed class Keys : IStreamKeyring
    {
        public readonly ConcurrentDictionary<int, StreamDataKey> Versions = new();
        public volatile StreamDataKey? Current;

        public StreamDataKey Add(int version, byte[]? key = null)
        {
            var k = new StreamDataKey(Shard.StreamId, version, key ?? RandomNumberGenerator.GetBytes(32));
            Versions[version] = k;
            return k;
        }

        public ValueTask<StreamDataKey?> CurrentAsync(long streamId, CancellationToken cancellationToken) => ValueTask.FromResult(Current);

        public ValueTask<StreamDataKey> GetAsync(long streamId, int version, CancellationToken cancellationToken) =>
            Versions.TryGetValue(version, out var key) ? ValueTask.FromResult(key)
                : ValueTask.FromException<StreamDataKey>(new DataKeyUnavailableException($"No data key version {version}."));
    }

    private static ShardLogStoreOptions Options(string directory, IStreamKeyring keys) => new()
    {
        DataDirectory = directory,
        RetentionCheckInterval = TimeSpan.Zero,
        SegmentSizeBytes = 64 * 1024,
        Keyring = keys,
    };

    private static async Task<List<StoredRecord>> ReadAllAsync(ShardLogStore store)
    {
        var all = new List<StoredRecord>();
        ReadResult read;
        ulong from = 0;
        do
        {
            read = await store.ReadAsync(Shard, new ReadRequest(from, 1000, 1 << 20), Ct);
            all.AddRange(read.Records);
            from = read.NextOrdinal;
        }
        while (read.Records.Count > 0);
        return all;
    }

    private static bool AnyFileContains(string directory, string marker)
    {
        var needle = Encoding.UTF8.GetBytes(marker);
        return Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Any(f => File.ReadAllBytes(f).AsSpan().IndexOf(needle) >= 0);
    }

    private static AppendRecord[] Marked(string marker, int count, int from = 0) =>
        [.. Enumerable.Range(from, count).Select(i => StoreFixture.Record($"{marker}-key-{i}", $"{marker}-data-{i}-" + new string('x', 2000)))];

    [Fact]
    public async Task Records_sealed_under_each_key_version_never_reach_the_files_in_the_clear_and_all_read_back_after_a_restart()
    {
        using var dir = new TempDirectory();
        var keys = new Keys();
        var id = Guid.NewGuid().ToString("N");
        string before = $"clear-{id}", first = $"sealed1-{id}", second = $"sealed2-{id}", after = $"clear2-{id}";
        var store = new ShardLogStore(Options(dir.Path, keys));
        try
        {
            await store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
            await store.AppendAsync(Shard, 1, Marked(before, 5), Ct);
            keys.Current = keys.Add(1);
            // Enough records to roll over several 64 KiB segments, one at a time and in a batch.
            for (var i = 0; i < 40; i++)
                await store.AppendAsync(Shard, 1, Marked(first, 1, i), Ct);
            await store.AppendAsync(Shard, 1, Marked(first, 20, 40), Ct);
            keys.Current = keys.Add(2);
            await store.AppendAsync(Shard, 1, Marked(second, 10), Ct);
            keys.Current = null;
            await store.AppendAsync(Shard, 1, Marked(after, 5), Ct);

            var expected = Marked(before, 5).Concat(Marked(first, 60)).Concat(Marked(second, 10)).Concat(Marked(after, 5)).ToArray();
            void AssertAll(List<StoredRecord> records)
            {
                Assert.Equal(expected.Length, records.Count);
                for (var i = 0; i < expected.Length; i++)
                {
                    Assert.Equal(expected[i].PartitionKey, records[i].PartitionKey);
                    Assert.Equal(expected[i].Data.ToArray(), records[i].Data.ToArray());
                    Assert.Equal((ulong)i, records[i].Ordinal);
                }
            }
            AssertAll(await ReadAllAsync(store));
            Assert.True(AnyFileContains(dir.Path, before), "the clear records are found by the search (it can see the files)");
            Assert.False(AnyFileContains(dir.Path, first), "no file holds a record sealed under version 1 in the clear");
            Assert.False(AnyFileContains(dir.Path, second), "no file holds a record sealed under version 2 in the clear");

            // A crash (no clean close) leaves the commit journal to replay: sealed frames replay like any other.
            await store.AbandonAsync();
            store = new ShardLogStore(Options(dir.Path, keys));
            AssertAll(await ReadAllAsync(store));
            Assert.False(AnyFileContains(dir.Path, first));
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_wrong_or_missing_data_key_refuses_the_read_and_never_returns_garbage()
    {
        using var dir = new TempDirectory();
        var keys = new Keys();
        keys.Current = keys.Add(1);
        await using (var store = new ShardLogStore(Options(dir.Path, keys)))
        {
            await store.OpenShardAsync(Shard, 1, StoreFixture.Day, Ct);
            await store.AppendAsync(Shard, 1, Marked("secret", 3), Ct);
        }

        var wrong = new Keys();
        wrong.Current = wrong.Add(1);
        await using (var store = new ShardLogStore(Options(dir.Path, wrong)))
        {
            var refused = await Assert.ThrowsAsync<LogCorruptedException>(() => store.ReadAsync(Shard, new ReadRequest(0, 10, 1 << 20), Ct));
            Assert.Contains("does not open with data key version 1", refused.Message);
        }

        await using (var store = new ShardLogStore(Options(dir.Path, new Keys())))
            await Assert.ThrowsAsync<DataKeyUnavailableException>(() => store.ReadAsync(Shard, new ReadRequest(0, 10, 1 << 20), Ct));

        await using (var store = new ShardLogStore(Options(dir.Path, keys)))
            Assert.Equal(3, (await ReadAllAsync(store)).Count);
    }
}
