using System.Text;
using Microsoft.Extensions.Time.Testing;
using Runnel.Core.Storage;
using Runnel.TestKit;

namespace Runnel.ShardStore.Engine.Tests;

/// <summary>A store in a real temporary directory that tests can close and reopen over the same files.</summary>
public sealed class StoreFixture : IAsyncDisposable
{
    private readonly TempDirectory _directory = new("shardstore");

    public StoreFixture(Func<ShardLogStoreOptions, ShardLogStoreOptions>? configure = null)
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Options = new ShardLogStoreOptions
        {
            DataDirectory = _directory.Path,
            TimeProvider = Time,
            RetentionCheckInterval = TimeSpan.Zero,
        };
        if (configure is not null)
            Options = configure(Options);
        Store = new ShardLogStore(Options);
    }

    public FakeTimeProvider Time { get; }
    public ShardLogStoreOptions Options { get; }
    public ShardLogStore Store { get; private set; }
    public string DataDirectory => _directory.Path;

    public static readonly ShardSettings Day = new(TimeSpan.FromHours(24));

    public string ShardDirectory(ShardRef shard) => Path.Combine(DataDirectory, shard.StreamId.ToString(), shard.ShardIndex.ToString());

    public string[] SegmentFiles(ShardRef shard) =>
        [.. Directory.GetFiles(ShardDirectory(shard), "seg-*.log").Order(StringComparer.Ordinal)];

    public async Task ReopenAsync(Action? whileClosed = null)
    {
        await Store.DisposeAsync();
        whileClosed?.Invoke();
        Store = new ShardLogStore(Options);
    }

    /// <summary>
    /// Stops the store as a crash would (no final fsync, the commit journal left in place), lets the test change the
    /// files as a power loss could have, and opens the store again.
    /// </summary>
    public async Task CrashAsync(Action? whileDown = null)
    {
        await Store.AbandonAsync();
        whileDown?.Invoke();
        Store = new ShardLogStore(Options);
    }

    public string[] JournalFiles() =>
        Directory.Exists(Path.Combine(DataDirectory, "journal")) ? Directory.GetFiles(Path.Combine(DataDirectory, "journal"), "*.jnl") : [];

    public static AppendRecord Record(string key, string data) => new(key, Encoding.UTF8.GetBytes(data));

    public static AppendRecord[] Batch(int count, string prefix = "r", int size = 0) =>
        [.. Enumerable.Range(0, count).Select(i => size == 0 ? Record($"pk-{i}", $"{prefix}-{i}") : new AppendRecord($"pk-{i}", Filler(size, i)))];

    public static byte[] Filler(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public async Task<List<StoredRecord>> ReadAllAsync(ShardRef shard, ulong from = 0, int maxRecords = 10_000)
    {
        var all = new List<StoredRecord>();
        while (true)
        {
            var result = await Store.ReadAsync(shard, new ReadRequest(from, maxRecords, 10 * 1024 * 1024), CancellationToken.None);
            all.AddRange(result.Records);
            if (result.Records.Count == 0)
                return all;
            from = result.NextOrdinal;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        _directory.Dispose();
    }
}
