using Runnel.Core.Storage;
using Runnel.Core.Streams;

namespace Runnel.Ingest.Tests;

[Collection(StandaloneCollection.Name)]
public sealed class ControlPlaneTests(StandaloneFixture f)
{
    [Fact]
    public async Task Stream_lifecycle_create_describe_list_delete()
    {
        var stream = StandaloneFixture.NewStreamName("life");
        await f.CreateStreamAsync(stream, 3);
        var description = (await f.OkAsync("DescribeStream", new { StreamName = stream })).GetProperty("StreamDescription");
        Assert.Equal("ACTIVE", description.GetProperty("StreamStatus").GetString());
        Assert.Equal(Arns.Stream("us-east-1", "000000000000", stream), description.GetProperty("StreamARN").GetString());
        Assert.Equal(24, description.GetProperty("RetentionPeriodHours").GetInt32());
        var shards = description.GetProperty("Shards").EnumerateArray().ToList();
        Assert.Equal(3, shards.Count);
        Assert.Equal("0", shards[0].GetProperty("HashKeyRange").GetProperty("StartingHashKey").GetString());
        Assert.Equal("340282366920938463463374607431768211455", shards[2].GetProperty("HashKeyRange").GetProperty("EndingHashKey").GetString());
        Assert.False(description.GetProperty("HasMoreShards").GetBoolean());

        var paged = (await f.OkAsync("DescribeStream", new { StreamName = stream, Limit = 2 })).GetProperty("StreamDescription");
        Assert.Equal(2, paged.GetProperty("Shards").GetArrayLength());
        Assert.True(paged.GetProperty("HasMoreShards").GetBoolean());
        var rest = (await f.OkAsync("DescribeStream", new { StreamName = stream, ExclusiveStartShardId = "shardId-000000000001" })).GetProperty("StreamDescription");
        Assert.Equal("shardId-000000000002", Assert.Single(rest.GetProperty("Shards").EnumerateArray()).GetProperty("ShardId").GetString());

        var summary = (await f.OkAsync("DescribeStreamSummary", new { StreamARN = Arns.Stream("us-east-1", "000000000000", stream) })).GetProperty("StreamDescriptionSummary");
        Assert.Equal(3, summary.GetProperty("OpenShardCount").GetInt32());

        var again = await f.CallAsync("CreateStream", new { StreamName = stream, ShardCount = 1 });
        Assert.Equal("ResourceInUseException", again.Type);

        await f.OkAsync("DeleteStream", new { StreamName = stream });
        Assert.Equal("ResourceNotFoundException", (await f.CallAsync("DescribeStream", new { StreamName = stream })).Type);
    }

    [Fact]
    public async Task On_demand_streams_start_with_four_shards()
    {
        var stream = StandaloneFixture.NewStreamName("od");
        await f.OkAsync("CreateStream", new { StreamName = stream, StreamModeDetails = new { StreamMode = "ON_DEMAND" } });
        var summary = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary");
        Assert.Equal(4, summary.GetProperty("OpenShardCount").GetInt32());
        Assert.Equal("ON_DEMAND", summary.GetProperty("StreamModeDetails").GetProperty("StreamMode").GetString());
    }

    [Fact]
    public async Task ListStreams_pages_with_ExclusiveStartStreamName_and_NextToken()
    {
        var prefix = "ls" + Guid.NewGuid().ToString("N")[..8];
        var names = Enumerable.Range(0, 3).Select(i => $"{prefix}-{i}").ToList();
        foreach (var name in names)
            await f.CreateStreamAsync(name);
        var seen = new List<string>();
        string? token = null;
        string? start = prefix;
        do
        {
            var page = token is null
                ? await f.OkAsync("ListStreams", new { Limit = 1, ExclusiveStartStreamName = start })
                : await f.OkAsync("ListStreams", new { Limit = 1, NextToken = token });
            var listed = page.GetProperty("StreamNames").EnumerateArray().Select(e => e.GetString()!).ToList();
            Assert.Equal(listed, page.GetProperty("StreamSummaries").EnumerateArray().Select(e => e.GetProperty("StreamName").GetString()!));
            seen.AddRange(listed);
            token = page.TryGetProperty("NextToken", out var t) ? t.GetString() : null;
        }
        while (token is not null && seen.Count < 3);
        Assert.Equal(names, seen.Take(3));
    }

    [Fact]
    public async Task ListShards_pages_and_filters()
    {
        var stream = StandaloneFixture.NewStreamName("sh");
        await f.CreateStreamAsync(stream, 5);
        var first = await f.OkAsync("ListShards", new { StreamName = stream, MaxResults = 2 });
        Assert.Equal(2, first.GetProperty("Shards").GetArrayLength());
        var token = first.GetProperty("NextToken").GetString();
        var second = await f.OkAsync("ListShards", new { NextToken = token, MaxResults = 10 });
        Assert.Equal(["shardId-000000000002", "shardId-000000000003", "shardId-000000000004"],
            second.GetProperty("Shards").EnumerateArray().Select(s => s.GetProperty("ShardId").GetString()));
        Assert.False(second.TryGetProperty("NextToken", out _));

        Assert.Equal("InvalidArgumentException", (await f.CallAsync("ListShards", new { StreamName = stream, NextToken = token })).Type);
        Assert.Equal("InvalidArgumentException", (await f.CallAsync("ListShards", new { })).Type);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        foreach (var filter in new object[]
        {
            new { Type = "AT_LATEST" }, new { Type = "AT_TRIM_HORIZON" }, new { Type = "FROM_TRIM_HORIZON" },
            new { Type = "AT_TIMESTAMP", Timestamp = now }, new { Type = "FROM_TIMESTAMP", Timestamp = now },
        })
        {
            var all = await f.OkAsync("ListShards", new { StreamName = stream, ShardFilter = filter });
            Assert.Equal(5, all.GetProperty("Shards").GetArrayLength());
        }
        var after = await f.OkAsync("ListShards", new { StreamName = stream, ShardFilter = new { Type = "AFTER_SHARD_ID", ShardId = "shardId-000000000003" } });
        Assert.Equal("shardId-000000000004", Assert.Single(after.GetProperty("Shards").EnumerateArray()).GetProperty("ShardId").GetString());
        var exclusive = await f.OkAsync("ListShards", new { StreamName = stream, ExclusiveStartShardId = "shardId-000000000002" });
        Assert.Equal(2, exclusive.GetProperty("Shards").GetArrayLength());
        Assert.Equal("ValidationException", (await f.CallAsync("ListShards", new { StreamName = stream, ShardFilter = new { Type = "SIDEWAYS" } })).Type);
    }

    [Fact]
    public async Task Retention_changes_reach_every_shard_owner()
    {
        var stream = StandaloneFixture.NewStreamName("ret");
        await f.CreateStreamAsync(stream, 2);
        await f.OkAsync("IncreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 72 });
        var summary = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary");
        Assert.Equal(72, summary.GetProperty("RetentionPeriodHours").GetInt32());
        var streamShards = await ShardRefsAsync(stream);
        Assert.All(streamShards, shard => Assert.Equal(TimeSpan.FromHours(72), f.Locator.Settings[shard].Retention));

        Assert.Equal("InvalidArgumentException", (await f.CallAsync("IncreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 48 })).Type);
        Assert.Equal("InvalidArgumentException", (await f.CallAsync("DecreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 12 })).Type);
        Assert.Equal("InvalidArgumentException", (await f.CallAsync("IncreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 9000 })).Type);
        await f.OkAsync("DecreaseStreamRetentionPeriod", new { StreamName = stream, RetentionPeriodHours = 24 });
        Assert.All(streamShards, shard => Assert.Equal(TimeSpan.FromHours(24), f.Locator.Settings[shard].Retention));
    }

    private async Task<List<ShardRef>> ShardRefsAsync(string stream)
    {
        // The stream id is inside every iterator; decode one to learn it.
        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");
        var codec = new ShardIteratorCodec(f.SigningKey, f.Clock);
        var id = codec.Decode(iterator).StreamId;
        return [new ShardRef(id, 0), new ShardRef(id, 1)];
    }

    [Fact]
    public async Task Tags_add_list_remove_through_stream_and_resource_operations()
    {
        var stream = StandaloneFixture.NewStreamName("tag");
        var arn = Arns.Stream("us-east-1", "000000000000", stream);
        await f.CreateStreamAsync(stream);
        await f.OkAsync("AddTagsToStream", new { StreamName = stream, Tags = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" } });
        await f.OkAsync("TagResource", new { ResourceARN = arn, Tags = new Dictionary<string, string> { ["c"] = "3" } });
        var listed = await f.OkAsync("ListTagsForStream", new { StreamName = stream, Limit = 2 });
        Assert.Equal(["a", "b"], listed.GetProperty("Tags").EnumerateArray().Select(t => t.GetProperty("Key").GetString()));
        Assert.True(listed.GetProperty("HasMoreTags").GetBoolean());
        await f.OkAsync("RemoveTagsFromStream", new { StreamName = stream, TagKeys = new[] { "a" } });
        await f.OkAsync("UntagResource", new { ResourceARN = arn, TagKeys = new[] { "c" } });
        var left = await f.OkAsync("ListTagsForResource", new { ResourceARN = arn });
        var tag = Assert.Single(left.GetProperty("Tags").EnumerateArray());
        Assert.Equal("b", tag.GetProperty("Key").GetString());
        Assert.Equal("2", tag.GetProperty("Value").GetString());
        Assert.Equal("InvalidArgumentException", (await f.CallAsync("AddTagsToStream", new { StreamName = stream, Tags = new Dictionary<string, string> { ["bad\u0001"] = "x" } })).Type);
        var tooMany = Enumerable.Range(0, 50).ToDictionary(i => $"k{i}", i => "v");
        Assert.Equal("InvalidArgumentException", (await f.CallAsync("AddTagsToStream", new { StreamName = stream, Tags = tooMany })).Type);
    }

    [Fact]
    public async Task DescribeLimits_and_UpdateMaxRecordSize()
    {
        var limits = await f.OkAsync("DescribeLimits", new { });
        Assert.True(limits.GetProperty("ShardLimit").GetInt32() > 0);
        Assert.True(limits.GetProperty("OpenShardCount").GetInt32() >= 0);

        var stream = StandaloneFixture.NewStreamName("max");
        await f.CreateStreamAsync(stream);
        var arn = Arns.Stream("us-east-1", "000000000000", stream);
        var twoMiB = Convert.ToBase64String(new byte[2 * 1024 * 1024]);
        Assert.Equal("ValidationException", (await f.CallAsync("PutRecord", new { StreamName = stream, PartitionKey = "a", Data = twoMiB })).Type);
        await f.OkAsync("UpdateMaxRecordSize", new { StreamARN = arn, MaxRecordSizeInKiB = 4096 });
        await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "a", Data = twoMiB });
        var stored = Assert.Single(await f.ReadAllAsync(stream, "shardId-000000000000"));
        Assert.Equal(2 * 1024 * 1024, stored.Data.Length);
        Assert.Equal("ValidationException", (await f.CallAsync("UpdateMaxRecordSize", new { StreamARN = arn, MaxRecordSizeInKiB = 20000 })).Type);
    }

    [Fact]
    public async Task DeleteStream_removes_the_shard_logs()
    {
        var stream = StandaloneFixture.NewStreamName("del");
        await f.CreateStreamAsync(stream);
        await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "a", Data = "AA==" });
        var shards = await ShardRefsAsync(stream);
        await f.OkAsync("DeleteStream", new { StreamName = stream, EnforceConsumerDeletion = true });
        var store = f.Locator.ForNode("standalone");
        await Assert.ThrowsAsync<ShardNotFoundException>(() => store.GetStateAsync(shards[0], TestContext.Current.CancellationToken));
    }
}
