using System.Numerics;
using System.Text;
using System.Text.Json.Nodes;
using Runnel.EndToEnd.Tests.Cluster;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// The AWS CLI v2 against the cluster's Ingest over HTTP/1.1: the commands of the Kinesis lecture
/// notes verbatim (with a unique stream name instead of DemoStream, plus --endpoint-url), then the
/// rest of a stream's life. Each CLI call costs about a second, so the calls are few and chained.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AwsCliTests(ClusterFixture fixture)
{
    private readonly AwsCli _aws = new(fixture.Cluster.Endpoint);

    [Fact]
    public Task Lecture_notes_session_puts_describes_iterates_and_reads_back() => LectureNotesSessionAsync(fixture.Cluster.Endpoint);

    /// <summary>The lecture notes' CLI session against any endpoint (cluster or Standalone).</summary>
    internal static async Task LectureNotesSessionAsync(Uri endpoint)
    {
        var aws = new AwsCli(endpoint);
        var stream = Names.Stream("cli-demo");
        var version = await aws.RunAsync("--version");
        Assert.True(version.Succeeded, version.Describe("aws --version"));
        Assert.StartsWith("aws-cli/2.", (version.StandardOutput + version.StandardError).Trim(), StringComparison.Ordinal);

        Assert.Null(await aws.JsonAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1"));
        using (var kinesis = new KinesisJsonClient(endpoint))
        {
            await kinesis.WaitActiveAsync(stream, TestContext.Current.CancellationToken);
        }

        // $ aws kinesis put-record --stream-name DemoStream --partition-key user1 --data "user signup" --cli-binary-format raw-in-base64-out
        var first = await aws.JsonAsync("kinesis", "put-record", "--stream-name", stream, "--partition-key", "user1",
            "--data", "user signup", "--cli-binary-format", "raw-in-base64-out");
        var second = await aws.JsonAsync("kinesis", "put-record", "--stream-name", stream, "--partition-key", "user1",
            "--data", "user signup", "--cli-binary-format", "raw-in-base64-out");
        Assert.Equal("shardId-000000000000", Str(first, "ShardId"));
        Assert.Equal("shardId-000000000000", Str(second, "ShardId"));
        var firstSequence = Sequence(Str(first, "SequenceNumber"));
        var secondSequence = Sequence(Str(second, "SequenceNumber"));
        Assert.True(secondSequence > firstSequence, $"{secondSequence} should follow {firstSequence}");

        // $ aws kinesis describe-stream --stream-name DemoStream
        var described = (await aws.JsonAsync("kinesis", "describe-stream", "--stream-name", stream))!["StreamDescription"]!.AsObject();
        Assert.Equal(stream, Str(described, "StreamName"));
        Assert.Matches($"^arn:aws:kinesis:us-east-1:\\d{{12}}:stream/{stream}$", Str(described, "StreamARN"));
        Assert.Equal("ACTIVE", Str(described, "StreamStatus"));
        Assert.Equal(24, described["RetentionPeriodHours"]!.GetValue<int>());
        // No HasMoreShards here: the CLI pages describe-stream itself and drops the paging flag.
        Assert.NotNull(described["StreamCreationTimestamp"]);
        Assert.NotNull(described["EnhancedMonitoring"]);
        var shard = Assert.Single(described["Shards"]!.AsArray())!.AsObject();
        Assert.Equal("shardId-000000000000", Str(shard, "ShardId"));
        Assert.Equal("0", Str(shard["HashKeyRange"], "StartingHashKey"));
        Assert.Equal((BigInteger.Pow(2, 128) - 1).ToString(), Str(shard["HashKeyRange"], "EndingHashKey"));
        Assert.True(Sequence(Str(shard["SequenceNumberRange"], "StartingSequenceNumber")) <= firstSequence);

        // $ aws kinesis get-shard-iterator --stream-name DemoStream --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON
        var iterator = Str(await aws.JsonAsync("kinesis", "get-shard-iterator", "--stream-name", stream,
            "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON"), "ShardIterator");
        Assert.InRange(iterator.Length, 1, 512);

        // $ aws kinesis get-records --shard-iterator "{SHARD_ITERATOR_TOKEN}"
        var records = await aws.JsonAsync("kinesis", "get-records", "--shard-iterator", iterator);
        AssertTwoSignups(records, firstSequence, secondSequence);
        Assert.False(string.IsNullOrEmpty(Str(records, "NextShardIterator")));
        Assert.NotNull(records!["MillisBehindLatest"]);

        // The notes: the first iterator, used again, returns the same data.
        AssertTwoSignups(await aws.JsonAsync("kinesis", "get-records", "--shard-iterator", iterator), firstSequence, secondSequence);

        // ... and NextShardIterator continues after them: nothing new yet.
        var next = await aws.JsonAsync("kinesis", "get-records", "--shard-iterator", Str(records, "NextShardIterator"));
        Assert.Empty(next!["Records"]!.AsArray());
    }

    [Fact]
    public async Task Stream_life_list_shards_tags_retention_batch_put_and_delete()
    {
        var stream = Names.Stream("cli-life");
        await _aws.JsonAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "2");
        using var kinesis = new KinesisJsonClient(fixture.Cluster.Endpoint);
        await kinesis.WaitActiveAsync(stream, TestContext.Current.CancellationToken);

        var listed = await _aws.JsonAsync("kinesis", "list-streams");
        Assert.Contains(stream, listed!["StreamNames"]!.AsArray().Select(n => n!.GetValue<string>()));

        var shards = (await _aws.JsonAsync("kinesis", "list-shards", "--stream-name", stream))!["Shards"]!.AsArray();
        Assert.Equal(["shardId-000000000000", "shardId-000000000001"], shards.Select(s => Str(s, "ShardId")));
        // Two shards split the 128-bit hash key space evenly and without a gap.
        Assert.Equal(Sequence(Str(shards[0]!["HashKeyRange"], "EndingHashKey")) + 1, Sequence(Str(shards[1]!["HashKeyRange"], "StartingHashKey")));

        await _aws.JsonAsync("kinesis", "add-tags-to-stream", "--stream-name", stream, "--tags", "team=data,env=test");
        var tags = (await _aws.JsonAsync("kinesis", "list-tags-for-stream", "--stream-name", stream))!["Tags"]!.AsArray();
        Assert.Equal(["env=test", "team=data"], tags.Select(t => $"{Str(t, "Key")}={Str(t, "Value")}").Order());
        await _aws.JsonAsync("kinesis", "remove-tags-from-stream", "--stream-name", stream, "--tag-keys", "env");
        tags = (await _aws.JsonAsync("kinesis", "list-tags-for-stream", "--stream-name", stream))!["Tags"]!.AsArray();
        Assert.Equal(["team"], tags.Select(t => Str(t, "Key")));

        await _aws.JsonAsync("kinesis", "increase-stream-retention-period", "--stream-name", stream, "--retention-period-hours", "72");
        var summary = (await _aws.JsonAsync("kinesis", "describe-stream-summary", "--stream-name", stream))!["StreamDescriptionSummary"];
        Assert.Equal(72, summary!["RetentionPeriodHours"]!.GetValue<int>());
        Assert.Equal(2, summary["OpenShardCount"]!.GetValue<int>());
        await _aws.JsonAsync("kinesis", "decrease-stream-retention-period", "--stream-name", stream, "--retention-period-hours", "24");
        await _aws.FailsWithAsync("InvalidArgumentException", "kinesis", "decrease-stream-retention-period", "--stream-name", stream, "--retention-period-hours", "12");

        var put = await _aws.JsonAsync("kinesis", "put-records", "--stream-name", stream, "--cli-binary-format", "raw-in-base64-out",
            "--records", "Data=alpha,PartitionKey=a", "Data=beta,PartitionKey=b", "Data=gamma,PartitionKey=c", "Data=delta,PartitionKey=a");
        Assert.Equal(0, put!["FailedRecordCount"]!.GetValue<int>());
        var results = put["Records"]!.AsArray();
        Assert.Equal(4, results.Count);
        // Same partition key, same shard, later sequence number.
        Assert.Equal(Str(results[0], "ShardId"), Str(results[3], "ShardId"));
        Assert.True(Sequence(Str(results[3], "SequenceNumber")) > Sequence(Str(results[0], "SequenceNumber")));

        var read = new List<string>();
        foreach (var shardId in new[] { "shardId-000000000000", "shardId-000000000001" })
        {
            read.AddRange((await kinesis.ReadAllAsync(stream, shardId, TestContext.Current.CancellationToken)).Select(r => Encoding.UTF8.GetString(r.Data)));
        }

        Assert.Equal(["alpha", "beta", "delta", "gamma"], read.Order());

        await _aws.FailsWithAsync("ResourceNotFoundException", "kinesis", "describe-stream", "--stream-name", stream + "-missing");

        await _aws.JsonAsync("kinesis", "delete-stream", "--stream-name", stream);
        await TestKit.Wait.UntilAsync(async () =>
        {
            try
            {
                await kinesis.CallAsync("DescribeStreamSummary", new JsonObject { ["StreamName"] = stream });
                return false;
            }
            catch (KinesisCallException e) when (e.Type.EndsWith("ResourceNotFoundException", StringComparison.Ordinal))
            {
                return true;
            }
        }, TimeSpan.FromSeconds(30), $"{stream} to be deleted", TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        await _aws.FailsWithAsync("ResourceNotFoundException", "kinesis", "describe-stream", "--stream-name", stream);
    }

    private static void AssertTwoSignups(JsonObject? answer, BigInteger first, BigInteger second)
    {
        var records = answer!["Records"]!.AsArray();
        Assert.Equal(2, records.Count);
        Assert.Equal([first, second], records.Select(r => Sequence(Str(r, "SequenceNumber"))));
        foreach (var record in records)
        {
            // The CLI prints blobs base64-encoded: "user signup" is dXNlciBzaWdudXA=.
            Assert.Equal(Convert.ToBase64String("user signup"u8), Str(record, "Data"));
            Assert.Equal("user1", Str(record, "PartitionKey"));
            Assert.NotNull(record!["ApproximateArrivalTimestamp"]);
        }
    }

    private static string Str(JsonNode? node, string name) =>
        node?[name]?.GetValue<string>() ?? throw new Xunit.Sdk.XunitException($"'{name}' missing in {node?.ToJsonString()}");

    private static BigInteger Sequence(string value)
    {
        Assert.Matches("^(0|[1-9][0-9]{0,128})$", value);
        return BigInteger.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
