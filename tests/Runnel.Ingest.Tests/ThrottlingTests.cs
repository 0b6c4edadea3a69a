using System.Text.Json;

namespace Runnel.Ingest.Tests;

/// <summary>The per-shard limits at their defaults (1 MiB/s and 1,000 records/s in, 5 GetRecords/s), as clients see them.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class ThrottlingTests(StandaloneFixture f)
{
    // 100 KiB records: ten fill the 1 MiB write burst, and refill adds one only every ~100 ms.
    private static readonly string Big = Convert.ToBase64String(new byte[100 * 1024]);

    [Fact]
    public async Task PutRecords_accepts_a_prefix_per_shard_and_marks_the_rest_throttled()
    {
        var stream = StandaloneFixture.NewStreamName("thr");
        await f.CreateStreamAsync(stream, 1);
        var records = Enumerable.Range(0, 20).Select(i => new { PartitionKey = "k" + i, Data = Big }).ToArray();

        var body = await f.OkAsync("PutRecords", new { StreamName = stream, Records = records });

        var results = body.GetProperty("Records").EnumerateArray().ToList();
        var accepted = results.TakeWhile(r => r.TryGetProperty("SequenceNumber", out _)).Count();
        Assert.InRange(accepted, 9, 11);
        Assert.All(results.Skip(accepted), r =>
        {
            Assert.Equal("ProvisionedThroughputExceededException", r.GetProperty("ErrorCode").GetString());
            Assert.Equal($"Rate exceeded for shard shardId-000000000000 in stream {stream} under account 000000000000.", r.GetProperty("ErrorMessage").GetString());
        });
        Assert.Equal(20 - accepted, body.GetProperty("FailedRecordCount").GetInt32());

        // The shard is at its limit: PutRecord calls are refused once the little that refilled meanwhile is used up.
        // Each round sends 12 at once (1.2 MiB, more than a second's refill) so that a slow machine, which may take
        // longer than the ~100 ms refill of one record between two calls, still outruns the bucket.
        var singlesAccepted = 0;
        KinesisAnswer? put = null;
        for (var round = 0; round < 10 && put is null; round++)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 12)
                .Select(_ => f.CallAsync("PutRecord", new { StreamName = stream, PartitionKey = "single", Data = Big })));
            singlesAccepted += answers.Count(a => a.Status == 200);
            put = answers.FirstOrDefault(a => a.Status != 200);
        }
        Assert.NotNull(put);
        Assert.Equal(400, put.Status);
        Assert.Equal("ProvisionedThroughputExceededException", put.Body.GetProperty("__type").GetString());
        Assert.Equal("ProvisionedThroughputExceededException", put.ErrorTypeHeader);
        Assert.Equal($"Rate exceeded for shard shardId-000000000000 in stream {stream} under account 000000000000.", put.Body.GetProperty("message").GetString());

        // What was accepted is stored in order; nothing refused was.
        var stored = await f.ReadAllAsync(stream, "shardId-000000000000");
        Assert.Equal(Enumerable.Range(0, accepted).Select(i => "k" + i).Concat(Enumerable.Repeat("single", singlesAccepted)), stored.Select(r => r.Key));
    }

    [Fact]
    public async Task GetRecords_beyond_five_calls_a_second_is_throttled()
    {
        var stream = StandaloneFixture.ReadLimitedStream;
        await f.CreateStreamAsync(stream, 1);
        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");

        var answers = new List<KinesisAnswer>();
        for (var i = 0; i < 8; i++)
            answers.Add(await f.CallAsync("GetRecords", new { ShardIterator = iterator }));

        Assert.InRange(answers.Count(a => a.Status == 200), 5, 6);
        var refused = answers.First(a => a.Status != 200);
        Assert.Equal(400, refused.Status);
        Assert.Equal("ProvisionedThroughputExceededException", refused.Body.GetProperty("__type").GetString());
    }

    [Fact]
    public async Task DescribeLimits_reports_the_shard_limits_in_force()
    {
        var body = await f.OkAsync("DescribeLimits", new { });

        var limits = body.GetProperty("ShardThroughputLimits");
        Assert.True(limits.GetProperty("Enabled").GetBoolean());
        Assert.Equal(1024 * 1024, limits.GetProperty("WriteBytesPerSecond").GetInt64());
        Assert.Equal(1000, limits.GetProperty("WriteRecordsPerSecond").GetInt32());
        // This host raises the GetRecords rate by configuration: the answer shows what is in force.
        Assert.Equal(1000, limits.GetProperty("GetRecordsPerSecond").GetInt32());
        Assert.Equal(JsonValueKind.Number, body.GetProperty("ShardLimit").ValueKind);
    }
}
