using System.Globalization;
using System.Text.Json;
using Runnel.Core.Hashing;
using Runnel.Core.Streams;
using Runnel.Ingest.Resharding;

namespace Runnel.Ingest.Tests;

[Collection(StandaloneCollection.Name)]
public sealed class ReshardingTests(StandaloneFixture f)
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    private static readonly string Half = HashKeys.Format(UInt128.One << 127);

    private async Task<ReshardWorkload> StartWritingAsync(string stream, int shards)
    {
        await f.CreateStreamAsync(stream, shards);
        var workload = new ReshardWorkload((op, request) => f.CallAsync(op, request), stream);
        workload.Start();
        // Some records land in the parents before the change.
        await TestKit.Wait.UntilAsync(() => workload.AckedCount >= 200, TimeSpan.FromSeconds(30), "records before the resharding");
        return workload;
    }

    private static async Task FinishAsync(ReshardWorkload workload)
    {
        await workload.WaitActiveAsync(Settle);
        var before = workload.AckedCount;
        // And some in the children after it.
        await TestKit.Wait.UntilAsync(() => workload.AckedCount >= before + 200, TimeSpan.FromSeconds(30), "records after the resharding");
        await workload.StopAsync();
        await workload.VerifyAsync();
    }

    /// <summary>
    /// SplitShard and MergeShards are limited to 5 calls a second per account and the test classes run in
    /// parallel on one host: a call refused for the rate is repeated, as an SDK's retry would.
    /// </summary>
    private async Task<KinesisAnswer> CallAsync(string operation, object request)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var answer = await f.CallAsync(operation, request);
            if (answer.Type != "LimitExceededException" || answer.Message?.StartsWith("Rate exceeded", StringComparison.Ordinal) != true || DateTime.UtcNow > deadline)
                return answer;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }

    private async Task OkAsync(string operation, object request)
    {
        var answer = await CallAsync(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Body}");
    }

    private async Task<List<JsonElement>> ShardsAsync(string stream) =>
        [.. (await f.OkAsync("DescribeStream", new { StreamName = stream })).GetProperty("StreamDescription").GetProperty("Shards").EnumerateArray()];

    [Fact]
    public async Task Split_under_live_writes_keeps_every_record_once_and_in_key_order()
    {
        var stream = StandaloneFixture.NewStreamName("split");
        var workload = await StartWritingAsync(stream, 1);
        await OkAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = Half });
        await FinishAsync(workload);

        var shards = await ShardsAsync(stream);
        Assert.Equal(3, shards.Count);
        Assert.True(shards[0].GetProperty("SequenceNumberRange").TryGetProperty("EndingSequenceNumber", out _));
        foreach (var child in shards.Skip(1))
        {
            Assert.Equal("shardId-000000000000", child.GetProperty("ParentShardId").GetString());
            Assert.False(child.TryGetProperty("AdjacentParentShardId", out _));
            Assert.False(child.GetProperty("SequenceNumberRange").TryGetProperty("EndingSequenceNumber", out _));
        }
        Assert.Equal(HashKeys.Format((UInt128.One << 127) - 1), shards[1].GetProperty("HashKeyRange").GetProperty("EndingHashKey").GetString());
        Assert.Equal(Half, shards[2].GetProperty("HashKeyRange").GetProperty("StartingHashKey").GetString());
    }

    [Fact]
    public async Task Merge_under_live_writes_keeps_every_record_once_and_in_key_order()
    {
        var stream = StandaloneFixture.NewStreamName("merge");
        var workload = await StartWritingAsync(stream, 2);
        await OkAsync("MergeShards", new { StreamName = stream, ShardToMerge = "shardId-000000000000", AdjacentShardToMerge = "shardId-000000000001" });
        await FinishAsync(workload);

        var shards = await ShardsAsync(stream);
        var child = Assert.Single(shards, s => s.GetProperty("ShardId").GetString() == "shardId-000000000002");
        Assert.Equal("shardId-000000000000", child.GetProperty("ParentShardId").GetString());
        Assert.Equal("shardId-000000000001", child.GetProperty("AdjacentParentShardId").GetString());
        Assert.Equal("0", child.GetProperty("HashKeyRange").GetProperty("StartingHashKey").GetString());
        Assert.Equal(HashKeys.Format(UInt128.MaxValue), child.GetProperty("HashKeyRange").GetProperty("EndingHashKey").GetString());
        var summary = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary");
        Assert.Equal(1, summary.GetProperty("OpenShardCount").GetInt32());
    }

    [Fact]
    public async Task UpdateShardCount_up_and_down_under_live_writes_ends_uniform_without_loss()
    {
        var stream = StandaloneFixture.NewStreamName("usc");
        var workload = await StartWritingAsync(stream, 3);
        var answer = await f.OkAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 5, ScalingType = "UNIFORM_SCALING" });
        Assert.Equal(3, answer.GetProperty("CurrentShardCount").GetInt32());
        Assert.Equal(5, answer.GetProperty("TargetShardCount").GetInt32());
        await workload.WaitActiveAsync(Settle);
        await AssertUniformAsync(stream, 5);

        await f.OkAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 3, ScalingType = "UNIFORM_SCALING" });
        await FinishAsync(workload);
        await AssertUniformAsync(stream, 3);
    }

    private async Task AssertUniformAsync(string stream, int count)
    {
        var open = (await f.OkAsync("ListShards", new { StreamName = stream, ShardFilter = new { Type = "AT_LATEST" } }))
            .GetProperty("Shards").EnumerateArray()
            .Select(s => new HashKeyRange(
                UInt128.Parse(s.GetProperty("HashKeyRange").GetProperty("StartingHashKey").GetString()!, CultureInfo.InvariantCulture),
                UInt128.Parse(s.GetProperty("HashKeyRange").GetProperty("EndingHashKey").GetString()!, CultureInfo.InvariantCulture)))
            .OrderBy(r => r.Start).ToList();
        Assert.Equal(HashKeyRange.EvenSplit(count), open);
    }

    [Fact]
    public async Task Invalid_resharding_requests_are_refused_as_aws_does()
    {
        var stream = StandaloneFixture.NewStreamName("rerr");
        await f.CreateStreamAsync(stream, 3);

        // The new starting key must leave both children non-empty.
        var atStart = await CallAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "0" });
        Assert.Equal("InvalidArgumentException", atStart.Type);
        var beyond = await CallAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = Half });
        Assert.Equal("InvalidArgumentException", beyond.Type);
        var malformed = await CallAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "12x" });
        Assert.Equal("ValidationException", malformed.Type);
        var missing = await CallAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000042", NewStartingHashKey = "5" });
        Assert.Equal("ResourceNotFoundException", missing.Type);

        var apart = await CallAsync("MergeShards", new { StreamName = stream, ShardToMerge = "shardId-000000000000", AdjacentShardToMerge = "shardId-000000000002" });
        Assert.Equal("InvalidArgumentException", apart.Type);

        var tooMany = await f.CallAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 7, ScalingType = "UNIFORM_SCALING" });
        Assert.Equal("LimitExceededException", tooMany.Type);
        var tooFew = await f.CallAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 1, ScalingType = "UNIFORM_SCALING" });
        Assert.Equal("LimitExceededException", tooFew.Type);
        var noType = await f.CallAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 4 });
        Assert.Equal("ValidationException", noType.Type);
        var badType = await f.CallAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 4, ScalingType = "FAST" });
        Assert.Equal("ValidationException", badType.Type);

        // Nothing was changed by the refused requests.
        Assert.Equal(3, (await ShardsAsync(stream)).Count);
        Assert.Equal("ACTIVE", (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString());

        // A shard that was split is no longer eligible.
        await OkAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "1000" });
        var workload = new ReshardWorkload((op, request) => f.CallAsync(op, request), stream);
        await workload.WaitActiveAsync(Settle);
        var again = await CallAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "500" });
        Assert.Equal("InvalidArgumentException", again.Type);
    }

    [Fact]
    public async Task Stream_mode_switches_both_ways_and_is_reported()
    {
        var stream = StandaloneFixture.NewStreamName("mode");
        await f.CreateStreamAsync(stream, 1);
        var arn = Arns.Stream("us-east-1", "000000000000", stream);
        await f.OkAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        Assert.Equal("ON_DEMAND", await ModeAsync(stream));
        var same = await f.CallAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        Assert.Equal("InvalidArgumentException", same.Type);
        await f.OkAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "PROVISIONED" } });
        Assert.Equal("PROVISIONED", await ModeAsync(stream));
        var noArn = await f.CallAsync("UpdateStreamMode", new { StreamName = stream, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        Assert.Equal("ValidationException", noArn.Type);
        var badMode = await f.CallAsync("UpdateStreamMode", new { StreamARN = arn, StreamModeDetails = new { StreamMode = "ELASTIC" } });
        Assert.Equal("ValidationException", badMode.Type);
    }

    private async Task<string?> ModeAsync(string stream) =>
        (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary")
            .GetProperty("StreamModeDetails").GetProperty("StreamMode").GetString();
}

public sealed class ReshardPlannerTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 1)]
    [InlineData(3, 5)]
    [InlineData(5, 3)]
    [InlineData(4, 8)]
    [InlineData(8, 4)]
    [InlineData(7, 13)]
    [InlineData(13, 7)]
    [InlineData(6, 6)]
    public void Uniform_rescale_ends_at_even_ranges_with_at_most_two_parents_per_shard(int from, int to)
    {
        var open = HashKeyRange.EvenSplit(from).Select((r, i) => new OpenShard(i, r)).ToList();
        var plan = ReshardPlanner.Uniform(open, to, from);
        var current = open.ToDictionary(s => s.Index, s => s.Range);
        var next = from;
        foreach (var round in plan.Rounds)
        {
            foreach (var child in round.Children)
            {
                Assert.Equal(next++, child.Index);
                var parents = child.Parents.ToList();
                Assert.InRange(parents.Count, 1, 2);
                Assert.All(parents, p => Assert.True(current.ContainsKey(p), $"parent {p} is not open"));
            }
            foreach (var parent in round.Parents)
                current.Remove(parent);
            foreach (var child in round.Children)
                current.Add(child.Index, child.Range);
        }
        Assert.Equal(HashKeyRange.EvenSplit(to), current.Values.OrderBy(r => r.Start).ToList());
        // Already uniform at the target count: nothing to do.
        Assert.Equal(from == to, plan.Rounds.Count == 0);
        // What a resuming process reads back is the same plan.
        Assert.Equal(plan.Serialize(), ReshardPlan.Deserialize(plan.Serialize()).Serialize());
    }
}
