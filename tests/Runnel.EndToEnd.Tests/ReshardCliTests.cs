using Runnel.EndToEnd.Tests.Cluster;

namespace Runnel.EndToEnd.Tests;

/// <summary>The AWS CLI v2 reshards a stream on the cluster: split-shard, merge-shards, update-shard-count, and the lineage list-shards shows.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ReshardCliTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Cli_splits_merges_and_rescales_with_lineage()
    {
        var ct = TestContext.Current.CancellationToken;
        var aws = new AwsCli(fixture.Cluster.Endpoint);
        using var kinesis = new KinesisJsonClient(fixture.Cluster.Endpoint);
        var stream = Names.Stream("cli-reshard");
        await kinesis.CreateStreamAsync(stream, 1, ct);

        Assert.Null(await aws.JsonAsync("kinesis", "split-shard", "--stream-name", stream,
            "--shard-to-split", "shardId-000000000000", "--new-starting-hash-key", "170141183460469231731687303715884105728"));
        await kinesis.WaitActiveAsync(stream, ct);
        Assert.Null(await aws.JsonAsync("kinesis", "merge-shards", "--stream-name", stream,
            "--shard-to-merge", "shardId-000000000001", "--adjacent-shard-to-merge", "shardId-000000000002"));
        await kinesis.WaitActiveAsync(stream, ct);
        var scaled = await aws.JsonAsync("kinesis", "update-shard-count", "--stream-name", stream, "--target-shard-count", "2", "--scaling-type", "UNIFORM_SCALING");
        Assert.Equal(1, scaled!["CurrentShardCount"]!.GetValue<int>());
        Assert.Equal(2, scaled["TargetShardCount"]!.GetValue<int>());
        await kinesis.WaitActiveAsync(stream, ct);

        var shards = (await aws.JsonAsync("kinesis", "list-shards", "--stream-name", stream))!["Shards"]!.AsArray().Select(s => s!.AsObject()).ToList();
        Assert.Equal(["shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003", "shardId-000000000004", "shardId-000000000005"],
            shards.Select(s => s["ShardId"]!.GetValue<string>()));
        Assert.Equal("shardId-000000000000", shards[1]["ParentShardId"]!.GetValue<string>());
        Assert.Equal("shardId-000000000002", shards[3]["AdjacentParentShardId"]!.GetValue<string>());
        Assert.All(shards[4..], s => Assert.Equal("shardId-000000000003", s["ParentShardId"]!.GetValue<string>()));
        Assert.Equal(2, shards.Count(s => s["SequenceNumberRange"]!["EndingSequenceNumber"] is null));

        var refused = await aws.FailsWithAsync("LimitExceededException", "kinesis", "update-shard-count", "--stream-name", stream,
            "--target-shard-count", "5", "--scaling-type", "UNIFORM_SCALING");
        Assert.Contains("double", refused, StringComparison.Ordinal);
        await kinesis.CallAsync("DeleteStream", new System.Text.Json.Nodes.JsonObject { ["StreamName"] = stream }, ct);
    }
}
