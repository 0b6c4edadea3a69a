using System.Text;
using System.Text.Json;
using Runnel.Core.Storage;
using Runnel.TestKit;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>
/// Starting positions and limits that depend on when records arrived. The shard store's clock is shifted while
/// records are written, so records can be minutes old without a test waiting minutes.
/// </summary>
public sealed class RecordTimeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MappingOptions Fast() => new() { ScanIntervalMilliseconds = 200, LeaseSeconds = 3, RetryBaseMilliseconds = 20, RetryMaxMilliseconds = 200 };

    [Fact]
    public async Task AT_TIMESTAMP_delivers_exactly_the_records_that_arrived_at_or_after_the_timestamp()
    {
        var clock = new ShiftedClock();
        await using var cluster = await MappingCluster.StartAsync(Fast(), clock);
        var streamId = await cluster.CreateStreamAsync("esm-at-timestamp", 2);
        var at = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(5);
        var after = new List<string>();
        // Per shard, in arrival order: 10 and 7 minutes ago and a second before the timestamp; then from just after the
        // timestamp (the append's own latency later) and 4 minutes ago.
        foreach (var (beforeAt, label) in new[] { (TimeSpan.FromMinutes(5), "before-10m"), (TimeSpan.FromMinutes(2), "before-7m"), (TimeSpan.FromSeconds(1), "before-1s") })
        {
            clock.Offset = at - beforeAt - DateTimeOffset.UtcNow;
            for (var shard = 0; shard < 2; shard++)
                await cluster.PutAsync(streamId, shard, [($"k{shard}", $"{label}:{shard}")]);
        }
        clock.Offset = at - DateTimeOffset.UtcNow;
        for (var shard = 0; shard < 2; shard++)
        {
            await cluster.PutAsync(streamId, shard, [($"k{shard}", $"at:{shard}")]);
            after.Add($"at:{shard}");
        }
        clock.Offset = TimeSpan.FromMinutes(-4);
        for (var shard = 0; shard < 2; shard++)
        {
            await cluster.PutAsync(streamId, shard, [($"k{shard}", $"after:{shard}")]);
            after.Add($"after:{shard}");
        }
        clock.Offset = TimeSpan.Zero;

        await using var receiver = await Receiver.StartAsync();
        await cluster.CreateMappingAsync(new
        {
            EventSourceArn = KinesisClient.StreamArn("esm-at-timestamp"),
            FunctionName = receiver.Url,
            StartingPosition = "AT_TIMESTAMP",
            // Epoch seconds with a fraction, as the AWS SDKs send it.
            StartingPositionTimestamp = at.ToUnixTimeMilliseconds() / 1000.0,
        });
        await using var worker = await cluster.AddWorkerAsync("fanout-0");

        // Records put later follow; the last one also shows nothing else was on its way.
        for (var shard = 0; shard < 2; shard++)
        {
            await cluster.PutAsync(streamId, shard, [($"k{shard}", $"later:{shard}")]);
            after.Add($"later:{shard}");
        }
        await Wait.UntilAsync(() => receiver.Accepted.Count >= after.Count, Patience, $"{after.Count} records at the receiver", cancellationToken: Ct);
        Assert.Equal(after.Order(), receiver.Accepted.Select(Text).Order());
        foreach (var shard in new[] { 0, 1 })
            Assert.Equal([$"at:{shard}", $"after:{shard}", $"later:{shard}"], receiver.Accepted.Select(Text).Where(t => t.EndsWith($":{shard}", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Records_older_than_MaximumRecordAgeInSeconds_are_skipped_to_the_failure_stream_and_younger_ones_delivered()
    {
        var clock = new ShiftedClock();
        await using var cluster = await MappingCluster.StartAsync(Fast(), clock);
        var streamId = await cluster.CreateStreamAsync("esm-age", 1);
        var dlqId = await cluster.CreateStreamAsync("esm-age-dlq", 1);

        // Five records that arrived two minutes ago (past AWS's smallest limit, 60 s), then five that arrive now.
        clock.Offset = TimeSpan.FromMinutes(-2);
        var old = await cluster.PutAsync(streamId, 0, Enumerable.Range(0, 5).Select(i => ("k", $"old-{i}")));
        clock.Offset = TimeSpan.Zero;
        var young = await cluster.PutAsync(streamId, 0, Enumerable.Range(0, 5).Select(i => ("k", $"young-{i}")));

        await using var receiver = await Receiver.StartAsync();
        await cluster.CreateMappingAsync(new
        {
            EventSourceArn = KinesisClient.StreamArn("esm-age"),
            FunctionName = receiver.Url,
            StartingPosition = "TRIM_HORIZON",
            BatchSize = 100,
            MaximumRecordAgeInSeconds = 60,
            DestinationConfig = new { OnFailure = new { Destination = KinesisClient.StreamArn("esm-age-dlq") } },
        });
        await using var worker = await cluster.AddWorkerAsync("fanout-0");

        await Wait.UntilAsync(() => receiver.Accepted.Count >= 5, Patience, "the five young records", cancellationToken: Ct);
        List<StoredRecord> failures = [];
        await Wait.UntilAsync(async () => (failures = [.. (await cluster.Store.ReadAsync(new ShardRef(dlqId, 0), new ReadRequest(0, 100, 1 << 20), Ct)).Records]).Count > 0,
            Patience, "the invocation record on the failure stream", cancellationToken: Ct);

        // The function never saw an old record; the young ones came in order.
        Assert.Equal(young, receiver.Accepted.Select(r => r.SequenceNumber));
        Assert.DoesNotContain(receiver.Invocations.SelectMany(i => i.Records), r => Text(r).StartsWith("old-", StringComparison.Ordinal));
        var failure = Assert.Single(failures);
        using var doc = JsonDocument.Parse(failure.Data);
        var root = doc.RootElement;
        Assert.Equal("RecordAgeExceeded", root.GetProperty("requestContext").GetProperty("condition").GetString());
        var info = root.GetProperty("KinesisBatchInfo");
        Assert.Equal(old[0], info.GetProperty("startSequenceNumber").GetString());
        Assert.Equal(old[^1], info.GetProperty("endSequenceNumber").GetString());
        Assert.Equal(5, info.GetProperty("batchSize").GetInt32());
        Assert.Equal(5, root.GetProperty("runnelRecords").GetArrayLength());

        // A record put now is delivered too: the mapping moved on past the discarded ones.
        var next = await cluster.PutAsync(streamId, 0, [("k", "young-5")]);
        await Wait.UntilAsync(() => receiver.Accepted.Any(r => r.SequenceNumber == next[0]), Patience, "a record put after the discard", cancellationToken: Ct);
    }

    private static string Text(ReceivedRecord r) => Encoding.UTF8.GetString(Convert.FromBase64String(r.Data));
}
