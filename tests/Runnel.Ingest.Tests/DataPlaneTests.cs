using System.Net;
using System.Text;
using System.Text.Json;
using Runnel.Core.Hashing;
using Runnel.Core.Streams;

namespace Runnel.Ingest.Tests;

[Collection(StandaloneCollection.Name)]
public sealed class DataPlaneTests(StandaloneFixture f)
{
    [Fact]
    public async Task PutRecord_then_GetRecords_round_trips_data_key_and_sequence()
    {
        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream, 1);
        var put = await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "pk", Data = Convert.ToBase64String("hello"u8.ToArray()) });
        Assert.Equal("shardId-000000000000", put.GetProperty("ShardId").GetString());
        var seq = put.GetProperty("SequenceNumber").GetString()!;
        Assert.True(SequenceNumber.TryParse(seq, out var parsed) && parsed.Ordinal == 0);

        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");
        var body = await f.OkAsync("GetRecords", new { ShardIterator = iterator });
        var record = Assert.Single(body.GetProperty("Records").EnumerateArray());
        Assert.Equal(seq, record.GetProperty("SequenceNumber").GetString());
        Assert.Equal("pk", record.GetProperty("PartitionKey").GetString());
        Assert.Equal("hello", Encoding.UTF8.GetString(Convert.FromBase64String(record.GetProperty("Data").GetString()!)));
        Assert.Equal(JsonValueKind.Number, record.GetProperty("ApproximateArrivalTimestamp").ValueKind);
        Assert.Equal(0, body.GetProperty("MillisBehindLatest").GetInt64());

        // The next iterator continues after the record: nothing new yet.
        var next = body.GetProperty("NextShardIterator").GetString();
        var again = await f.OkAsync("GetRecords", new { ShardIterator = next });
        Assert.Empty(again.GetProperty("Records").EnumerateArray());
    }

    [Fact]
    public async Task PutRecords_routes_by_hash_key_and_keeps_per_shard_order()
    {
        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream, 4);
        var records = Enumerable.Range(0, 500).Select(i => new { PartitionKey = $"key-{i % 37}", Data = Convert.ToBase64String(BitConverter.GetBytes(i)) }).ToArray();
        var body = await f.OkAsync("PutRecords", new { StreamName = stream, Records = records });
        Assert.Equal(0, body.GetProperty("FailedRecordCount").GetInt32());
        var results = body.GetProperty("Records").EnumerateArray().ToList();
        Assert.Equal(500, results.Count);

        var ranges = HashKeyRange.EvenSplit(4);
        var byShard = new Dictionary<string, List<int>>();
        for (var i = 0; i < 500; i++)
        {
            var shardId = results[i].GetProperty("ShardId").GetString()!;
            var expected = ranges.Select((r, ix) => (r, ix)).Single(x => x.r.Contains(HashKeys.FromPartitionKey(records[i].PartitionKey))).ix;
            Assert.Equal(ShardIds.Format(expected), shardId);
            (byShard.TryGetValue(shardId, out var list) ? list : byShard[shardId] = []).Add(i);
        }
        foreach (var (shardId, indexes) in byShard)
        {
            var stored = await f.ReadAllAsync(stream, shardId);
            Assert.Equal(indexes, stored.Select(r => BitConverter.ToInt32(r.Data)).ToList());
            Assert.Equal(indexes.Select(i => results[i].GetProperty("SequenceNumber").GetString()), stored.Select(r => r.Seq));
        }
    }

    [Fact]
    public async Task ExplicitHashKey_overrides_the_partition_key()
    {
        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream, 2);
        var put = await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "x", Data = "AA==", ExplicitHashKey = HashKeys.Format(UInt128.MaxValue) });
        Assert.Equal("shardId-000000000001", put.GetProperty("ShardId").GetString());
        var arn = Arns.Stream("us-east-1", "000000000000", stream);
        var byArn = await f.OkAsync("PutRecord", new { StreamARN = arn, PartitionKey = "x", Data = "AA==", ExplicitHashKey = "0" });
        Assert.Equal("shardId-000000000000", byArn.GetProperty("ShardId").GetString());
    }

    [Fact]
    public async Task Iterator_types_start_where_they_say()
    {
        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream, 1);
        const string shard = "shardId-000000000000";
        var seqs = new List<string>();
        for (var i = 0; i < 3; i++)
            seqs.Add((await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "k", Data = Convert.ToBase64String([(byte)i]) }))
                .GetProperty("SequenceNumber").GetString()!);

        async Task<List<byte>> ReadFrom(string iterator) =>
            [.. (await f.OkAsync("GetRecords", new { ShardIterator = iterator })).GetProperty("Records").EnumerateArray()
                .Select(r => Convert.FromBase64String(r.GetProperty("Data").GetString()!)[0])];

        Assert.Equal([0, 1, 2], await ReadFrom(await f.IteratorAsync(stream, shard, "TRIM_HORIZON")));
        Assert.Equal([1, 2], await ReadFrom(await f.IteratorAsync(stream, shard, "AT_SEQUENCE_NUMBER", seqs[1])));
        Assert.Equal([2], await ReadFrom(await f.IteratorAsync(stream, shard, "AFTER_SEQUENCE_NUMBER", seqs[1])));
        var latest = await f.IteratorAsync(stream, shard, "LATEST");
        Assert.Empty(await ReadFrom(latest));
        var past = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds() / 1000.0;
        var atPast = await f.IteratorAsync(stream, shard, "AT_TIMESTAMP", timestamp: past);
        await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "k", Data = Convert.ToBase64String([3]) });
        Assert.Equal([3], await ReadFrom(latest));
        Assert.Equal([0, 1, 2, 3], await ReadFrom(atPast));
        // Short shard ids are accepted, as the service does.
        Assert.Equal([0, 1, 2, 3], await ReadFrom(await f.IteratorAsync(stream, "shardId-0", "TRIM_HORIZON")));
    }

    [Fact]
    public async Task GetRecords_honours_Limit_and_reports_lag()
    {
        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream, 1);
        var records = Enumerable.Range(0, 20).Select(i => new { PartitionKey = "k", Data = Convert.ToBase64String([(byte)i]) }).ToArray();
        await f.OkAsync("PutRecords", new { StreamName = stream, Records = records });
        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");
        var first = await f.OkAsync("GetRecords", new { ShardIterator = iterator, Limit = 5 });
        Assert.Equal(5, first.GetProperty("Records").GetArrayLength());
        Assert.True(first.GetProperty("MillisBehindLatest").GetInt64() >= 0);
        var rest = await f.OkAsync("GetRecords", new { ShardIterator = first.GetProperty("NextShardIterator").GetString() });
        Assert.Equal(15, rest.GetProperty("Records").GetArrayLength());
        Assert.Equal(0, rest.GetProperty("MillisBehindLatest").GetInt64());
    }

    [Fact]
    public async Task Http2_prior_knowledge_and_Http11_share_the_port()
    {
        var h2 = await f.CallAsync("ListStreams", "{}", HttpVersion.Version20);
        Assert.Equal(200, h2.Status);
        Assert.Equal(HttpVersion.Version20, h2.Version);
        var h1 = await f.CallAsync("ListStreams", "{}", HttpVersion.Version11);
        Assert.Equal(200, h1.Status);
        Assert.Equal(HttpVersion.Version11, h1.Version);
        Assert.Equal("application/x-amz-json-1.1", h1.ContentType);

        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream);
        var put = await f.CallAsync("PutRecords", new { StreamName = stream, Records = new[] { new { PartitionKey = "a", Data = "AQ==" } } }, HttpVersion.Version20);
        Assert.Equal(200, put.Status);
        Assert.Equal(0, put.Body.GetProperty("FailedRecordCount").GetInt32());
    }

    [Fact]
    public async Task Rest_route_accepts_one_record_or_an_array_with_data_or_json_values()
    {
        var stream = StandaloneFixture.NewStreamName();
        await f.CreateStreamAsync(stream);
        using var one = await f.Http.PostAsync($"/v1/streams/{stream}/records",
            new StringContent("""{"partitionKey":"a","data":"aGk="}""", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        using var many = await f.Http.PostAsync($"/v1/streams/{stream}/records",
            new StringContent("""[{"partitionKey":"b","value":{"n":1,"s":"x"}},{"partitionKey":"c","value":42}]""", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, many.StatusCode);
        var answer = JsonDocument.Parse(await many.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(2, answer.GetArrayLength());
        Assert.Equal("shardId-000000000000", answer[0].GetProperty("shardId").GetString());
        Assert.NotNull(answer[0].GetProperty("sequenceNumber").GetString());

        var stored = await f.ReadAllAsync(stream, "shardId-000000000000");
        Assert.Equal(["hi", """{"n":1,"s":"x"}""", "42"], stored.Select(r => Encoding.UTF8.GetString(r.Data)));

        using var missing = await f.Http.PostAsync("/v1/streams/nope-stream/records",
            new StringContent("""{"partitionKey":"a","data":"aGk="}""", Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("ResourceNotFoundException", await missing.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }
}
