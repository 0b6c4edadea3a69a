using Runnel.Core.Streams;

namespace Runnel.Ingest.Tests;

/// <summary>Every bad input answers the service's error and changes nothing.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class ErrorTests(StandaloneFixture f)
{
    private static void AssertError(KinesisAnswer answer, string type, int status = 400, string? messageContains = null)
    {
        Assert.True(answer.Status == status, $"expected {status} {type}, got {answer.Status}: {answer.Body}");
        Assert.Equal(type, answer.Type);
        Assert.Equal(type, answer.ErrorTypeHeader);
        if (messageContains is not null)
            Assert.Contains(messageContains, answer.Message);
    }

    private async Task<string> EmptyStreamAsync(int shards = 1)
    {
        var stream = StandaloneFixture.NewStreamName("e");
        await f.CreateStreamAsync(stream, shards);
        return stream;
    }

    private async Task AssertNothingStoredAsync(string stream) =>
        Assert.Empty(await f.ReadAllAsync(stream, "shardId-000000000000"));

    [Fact]
    public async Task Malformed_json_is_SerializationException()
    {
        var stream = await EmptyStreamAsync();
        AssertError(await f.CallAsync("PutRecord", $$"""{"StreamName":"{{stream}}","PartitionKey":"a","Data":"AA=="""), "SerializationException");
        AssertError(await f.CallAsync("PutRecord", "[1,2]"), "SerializationException");
        await AssertNothingStoredAsync(stream);
    }

    [Fact]
    public async Task Wrong_types_are_SerializationException()
    {
        var stream = await EmptyStreamAsync();
        AssertError(await f.CallAsync("PutRecord", $$"""{"StreamName":"{{stream}}","PartitionKey":5,"Data":"AA=="}"""),
            "SerializationException", messageContains: "can not be converted to an String");
        AssertError(await f.CallAsync("PutRecords", $$$"""{"StreamName":"{{{stream}}}","Records":{"a":1}}"""), "SerializationException");
        AssertError(await f.CallAsync("CreateStream", """{"StreamName":"x","ShardCount":"2"}"""),
            "SerializationException", messageContains: "class java.lang.String can not be converted to an Integer");
        await AssertNothingStoredAsync(stream);
    }

    [Fact]
    public async Task Bad_base64_is_SerializationException()
    {
        var stream = await EmptyStreamAsync();
        AssertError(await f.CallAsync("PutRecord", new { StreamName = stream, PartitionKey = "a", Data = "abc" }),
            "SerializationException", messageContains: "Base64 encoded length is expected a multiple of 4 bytes but found: 3");
        AssertError(await f.CallAsync("PutRecords", new { StreamName = stream, Records = new[] { new { PartitionKey = "a", Data = "AA==" }, new { PartitionKey = "a", Data = "a*==" } } }),
            "SerializationException", messageContains: "Invalid Base64 character: '*'");
        await AssertNothingStoredAsync(stream);
    }

    [Fact]
    public async Task Missing_and_invalid_members_are_one_ValidationException()
    {
        var missing = await f.CallAsync("PutRecord", new { StreamName = "a" });
        AssertError(missing, "ValidationException");
        Assert.Equal("2 validation errors detected: Value null at 'partitionKey' failed to satisfy constraint: Member must not be null; " +
            "Value null at 'data' failed to satisfy constraint: Member must not be null", missing.Message);

        var badName = await f.CallAsync("DescribeStream", new { StreamName = "bad name!" });
        AssertError(badName, "ValidationException");
        Assert.Equal("1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", badName.Message);

        AssertError(await f.CallAsync("CreateStream", new { StreamName = "x", ShardCount = 0 }), "ValidationException",
            messageContains: "Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1");
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = "x", ShardId = "shardId-0", ShardIteratorType = "SOMEWHERE" }), "ValidationException",
            messageContains: "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]");
    }

    [Fact]
    public async Task Unknown_operation_is_UnknownOperationException()
    {
        AssertError(await f.CallAsync("FlyToTheMoon", "{}"), "UnknownOperationException");
    }

    [Fact]
    public async Task Oversized_record_and_batch_are_refused_and_store_nothing()
    {
        var stream = await EmptyStreamAsync();
        var big = Convert.ToBase64String(new byte[1024 * 1024 + 1]);
        AssertError(await f.CallAsync("PutRecord", new { StreamName = stream, PartitionKey = "a", Data = big }), "ValidationException",
            messageContains: "Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576");
        var exactlyMax = Convert.ToBase64String(new byte[1024 * 1024 - 1]);
        AssertError(await f.CallAsync("PutRecord", new { StreamName = stream, PartitionKey = "ab", Data = exactlyMax }), "InvalidArgumentException",
            messageContains: "exceeds the maximum record size");
        var tooMany = Enumerable.Range(0, 501).Select(_ => new { PartitionKey = "a", Data = "AA==" }).ToArray();
        AssertError(await f.CallAsync("PutRecords", new { StreamName = stream, Records = tooMany }), "ValidationException",
            messageContains: "Member must have length less than or equal to 500");
        var heavy = Enumerable.Range(0, 11).Select(_ => new { PartitionKey = "a", Data = Convert.ToBase64String(new byte[1000 * 1000]) }).ToArray();
        AssertError(await f.CallAsync("PutRecords", new { StreamName = stream, Records = heavy }), "InvalidArgumentException",
            messageContains: "exceeds the limit");
        AssertError(await f.CallAsync("PutRecords", new { StreamName = stream, Records = Array.Empty<object>() }), "ValidationException");
        await AssertNothingStoredAsync(stream);
    }

    [Fact]
    public async Task Missing_streams_are_ResourceNotFound()
    {
        var name = StandaloneFixture.NewStreamName("missing");
        AssertError(await f.CallAsync("PutRecord", new { StreamName = name, PartitionKey = "a", Data = "AA==" }), "ResourceNotFoundException",
            messageContains: $"Stream {name} under account 000000000000 not found.");
        AssertError(await f.CallAsync("DescribeStream", new { StreamName = name }), "ResourceNotFoundException");
        AssertError(await f.CallAsync("DeleteStream", new { StreamName = name }), "ResourceNotFoundException");
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = name, ShardId = "shardId-0", ShardIteratorType = "LATEST" }), "ResourceNotFoundException");
    }

    [Fact]
    public async Task Invalid_or_foreign_shard_ids_and_sequence_numbers_are_refused()
    {
        var stream = await EmptyStreamAsync(2);
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000007", ShardIteratorType = "LATEST" }),
            "ResourceNotFoundException", messageContains: "does not exist");
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = stream, ShardId = "shard-x", ShardIteratorType = "LATEST" }),
            "ResourceNotFoundException");
        var foreign = new SequenceNumber(1, 0).ToString();
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "AT_SEQUENCE_NUMBER", StartingSequenceNumber = foreign }),
            "InvalidArgumentException", messageContains: "It encodes shardId-000000000001");
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "AT_SEQUENCE_NUMBER", StartingSequenceNumber = "12345" }),
            "InvalidArgumentException", messageContains: "is invalid");
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "AT_SEQUENCE_NUMBER" }),
            "InvalidArgumentException");
        AssertError(await f.CallAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "AT_TIMESTAMP" }),
            "InvalidArgumentException", messageContains: "timestampInMillis");
    }

    [Fact]
    public async Task Tampered_and_expired_iterators_are_refused()
    {
        var stream = await EmptyStreamAsync();
        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");
        var tampered = (iterator[10] == 'A' ? "B" : "A") is var c ? iterator[..10] + c + iterator[11..] : iterator;
        AssertError(await f.CallAsync("GetRecords", new { ShardIterator = tampered }), "InvalidArgumentException", messageContains: "Invalid ShardIterator.");
        AssertError(await f.CallAsync("GetRecords", new { ShardIterator = "not-an-iterator" }), "InvalidArgumentException");

        f.Clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        AssertError(await f.CallAsync("GetRecords", new { ShardIterator = iterator }), "ExpiredIteratorException", messageContains: "Iterator expired.");
        // A fresh iterator works again at the new time.
        var fresh = await f.IteratorAsync(stream, "shardId-000000000000");
        Assert.Equal(200, (await f.CallAsync("GetRecords", new { ShardIterator = fresh })).Status);
    }

    [Fact]
    public async Task Iterators_of_a_deleted_stream_find_nothing()
    {
        var stream = await EmptyStreamAsync();
        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");
        await f.OkAsync("DeleteStream", new { StreamName = stream });
        AssertError(await f.CallAsync("GetRecords", new { ShardIterator = iterator }), "ResourceNotFoundException");
        // A new stream of the same name is a new incarnation: the old iterator still finds nothing.
        await f.CreateStreamAsync(stream);
        AssertError(await f.CallAsync("GetRecords", new { ShardIterator = iterator }), "ResourceNotFoundException");
    }
}
