using Runnel.TestKit;

namespace Runnel.Hardening.Tests;

/// <summary>
/// Standalone with its whole data folder (shard logs and the SQLite metadata) on a small file system that really fills
/// up: writes are refused with a retryable error before the disk is full, DeleteStream still works and frees the space,
/// and writes resume without a restart.
/// </summary>
public sealed class DiskFullTests
{
    private const int RecordBytes = 256 * 1024;

    [Fact]
    public async Task A_full_disk_refuses_puts_retryably_DeleteStream_frees_it_and_puts_resume()
    {
        using var disk = new SmallFileSystem(64 * 1024 * 1024);
        await using var f = new HardeningFixture(Path.Combine(disk.Path, "data"), "--ShardStore:MinFreeDiskBytes=8388608", "--Throttling:Enabled=false");
        await f.InitializeAsync();
        var big = HardeningFixture.NewStreamName("full");
        var other = HardeningFixture.NewStreamName("kept");
        await f.CreateStreamAsync(big);
        await f.CreateStreamAsync(other);
        await f.OkAsync("PutRecord", new { StreamName = other, PartitionKey = "k", Data = "a2VwdA==" });
        disk.FillLeaving(20 * 1024 * 1024);

        var data = Convert.ToBase64String(new byte[RecordBytes]);
        Answer? refused = null;
        for (var i = 0; i < 200 && refused is null; i++)
        {
            var answer = await f.CallAsync("PutRecord", new { StreamName = big, PartitionKey = $"k{i}", Data = data });
            if (answer.Status != 200)
                refused = answer;
        }
        Assert.NotNull(refused);
        // Retryable in every AWS SDK, and no record was acknowledged that is not stored.
        Assert.True(refused.Status == 500, $"PutRecord answered {refused.Status}: {refused.Text}");
        Assert.Equal("InternalFailure", refused.Json.GetProperty("__type").GetString());
        var batch = await f.OkAsync("PutRecords", new { StreamName = other, Records = new[] { new { PartitionKey = "k", Data = data } } });
        Assert.Equal(1, batch.GetProperty("FailedRecordCount").GetInt32());
        Assert.Equal("InternalFailure", batch.GetProperty("Records")[0].GetProperty("ErrorCode").GetString());

        await f.OkAsync("DeleteStream", new { StreamName = big });
        await Wait.UntilAsync(async () => (await f.CallAsync("DescribeStreamSummary", new { StreamName = big })).Status == 400,
            TimeSpan.FromSeconds(30), "the deleted stream to be gone", cancellationToken: TestContext.Current.CancellationToken);
        await Wait.UntilAsync(async () => (await f.CallAsync("PutRecord", new { StreamName = other, PartitionKey = "k", Data = "YWdhaW4=" })).Status == 200,
            TimeSpan.FromSeconds(30), "puts accepted again once the deleted stream's files are gone", cancellationToken: TestContext.Current.CancellationToken);

        var iterator = (await f.OkAsync("GetShardIterator", new { StreamName = other, ShardId = "shardId-000000000000", ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        var records = (await f.OkAsync("GetRecords", new { ShardIterator = iterator })).GetProperty("Records");
        Assert.Equal(["a2VwdA==", "YWdhaW4="], records.EnumerateArray().Select(r => r.GetProperty("Data").GetString()).ToArray());
        Assert.Equal("ACTIVE", (await f.OkAsync("DescribeStreamSummary", new { StreamName = other }))
            .GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString());
    }
}
