using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Runnel.ShardStore.Engine;
using Runnel.Standalone;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Retention end to end, through the Kinesis API of Standalone hosted in this process on a real
/// port: the shortest retention Kinesis allows is 24 hours, so the shard store gets a fake clock
/// (which cannot cross a process boundary) and small segments, and the retention pass is run on
/// demand instead of on its timer. Old records stop being returned and their segment files go.
/// </summary>
public sealed class RetentionTests
{
    private const int SegmentBytes = 4096;

    [Fact]
    public async Task Records_older_than_the_retention_are_no_longer_returned_and_their_segments_are_deleted()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("retention");
        var shards = data.Combine("shards", create: true);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var port = FreePorts.Get();
        var app = StandaloneHost.Build(
            [$"--urls=http://127.0.0.1:{port}", $"--Runnel:DataDirectory={data.Path}", $"--ShardStore:DataDirectory={shards}", "--Logging:LogLevel:Default=Warning"],
            builder => builder.Services.AddSingleton(sp => new ShardLogStore(
                new ShardLogStoreOptions
                {
                    DataDirectory = shards,
                    SegmentSizeBytes = SegmentBytes,
                    RetentionCheckInterval = TimeSpan.Zero,
                    TimeProvider = clock,
                },
                sp.GetRequiredService<ILogger<ShardLogStore>>())));
        await using var _ = app;
        await StandaloneHost.PrepareAsync(app, ct);
        await app.StartAsync(ct);
        var store = app.Services.GetRequiredService<ShardLogStore>();

        using var kinesis = new KinesisJsonClient(new Uri($"http://127.0.0.1:{port}"));
        var stream = Names.Stream("retention");
        await kinesis.CreateStreamAsync(stream, 1, ct);

        // About 60 records of ~200 bytes per 4 KiB segment: 300 old records fill several segments.
        var old = Enumerable.Range(0, 300).Select(i => ("old", Encoding.UTF8.GetBytes($"old-{i}-" + new string('o', 180)))).ToList();
        for (var i = 0; i < old.Count; i += 100)
        {
            var results = await kinesis.PutRecordsAsync(stream, old.GetRange(i, 100), ct);
            Assert.All(results, r => Assert.True(r.Succeeded, r.ErrorMessage));
        }

        var oldSegments = SegmentFiles(shards);
        Assert.True(oldSegments.Count >= 3, $"expected several segments, found {oldSegments.Count}");
        Assert.Equal(300, (await kinesis.ReadAllAsync(stream, "shardId-000000000000", ct)).Count);

        // Nothing has expired yet: a pass one hour in removes nothing.
        clock.Advance(TimeSpan.FromHours(1));
        await store.RunRetentionAsync(ct);
        Assert.Equal(oldSegments, SegmentFiles(shards));

        // 25 hours after the writes, every old record is past the default 24-hour retention.
        clock.Advance(TimeSpan.FromHours(24));
        await store.RunRetentionAsync(ct);

        var remaining = SegmentFiles(shards);
        Assert.Empty(remaining.Intersect(oldSegments));
        Assert.Empty(await kinesis.ReadAllAsync(stream, "shardId-000000000000", ct));

        // The shard keeps working after its history was trimmed, and sequence numbers keep growing.
        var fresh = Enumerable.Range(0, 5).Select(i => ("new", Encoding.UTF8.GetBytes($"new-{i}"))).ToList();
        var put = await kinesis.PutRecordsAsync(stream, fresh, ct);
        Assert.All(put, r => Assert.True(r.Succeeded, r.ErrorMessage));
        var read = await kinesis.ReadAllAsync(stream, "shardId-000000000000", ct);
        Assert.Equal(["new-0", "new-1", "new-2", "new-3", "new-4"], read.Select(r => Encoding.UTF8.GetString(r.Data)));
        Assert.Equal(put.Select(p => p.SequenceNumber), read.Select(r => r.SequenceNumber));

        await app.StopAsync(ct);
    }

    private static List<string> SegmentFiles(string root) =>
        Directory.EnumerateFiles(root, "seg-*.log", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
}
