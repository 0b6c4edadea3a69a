namespace Runnel.Ingest.Tests;

/// <summary>
/// ValidationException texts as AWS writes them, in JSON and CBOR: every violated member counted, lists shown as
/// <c>[a, b]</c>, maps as <c>{key=value}</c>, structures in a list by their Java class, and member constraints
/// reported before a stream's existence is looked at.
/// </summary>
[Collection(StandaloneCollection.Name)]
public sealed class ValidationWordingTests(StandaloneFixture f)
{
    private const string EntryClass = "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@";

    private Task<KinesisAnswer> CallAsync(string protocol, string operation, object request) =>
        protocol == "cbor" ? f.CallCborAsync(operation, request) : f.CallAsync(operation, request);

    private static string ValidationMessage(KinesisAnswer answer)
    {
        Assert.True(answer.Status == 400, $"expected 400, got {answer.Status}: {answer.Body}");
        Assert.Equal("ValidationException", answer.Type);
        return answer.Message!;
    }

    private async Task<string> StreamAsync()
    {
        var stream = StandaloneFixture.NewStreamName("vw");
        await f.CreateStreamAsync(stream);
        return stream;
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task An_empty_list_is_shown_as_empty_brackets(string protocol)
    {
        var stream = await StreamAsync();
        Assert.Equal("1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ValidationMessage(await CallAsync(protocol, "PutRecords", new { StreamName = stream, Records = Array.Empty<object>() })));
        Assert.Equal("1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ValidationMessage(await CallAsync(protocol, "RemoveTagsFromStream", new { StreamName = stream, TagKeys = Array.Empty<string>() })));
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task A_list_of_structures_is_shown_by_their_class(string protocol)
    {
        var stream = await StreamAsync();
        var records = Enumerable.Range(0, 501).Select(_ => new { PartitionKey = "a", Data = "AA==" }).ToArray();
        var message = ValidationMessage(await CallAsync(protocol, "PutRecords", new { StreamName = stream, Records = records }));
        Assert.StartsWith("1 validation error detected: Value '[" + EntryClass, message);
        Assert.EndsWith("]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500", message);
        Assert.Equal(501, message.Split(EntryClass).Length - 1);
        Assert.Empty(await f.ReadAllAsync(stream, "shardId-000000000000"));
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task Maps_are_shown_as_key_equals_value(string protocol)
    {
        var stream = await StreamAsync();
        Assert.Equal("1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ValidationMessage(await CallAsync(protocol, "AddTagsToStream", new { StreamName = stream, Tags = new Dictionary<string, string>() })));

        var longKey = new string('k', 129);
        Assert.Equal($"1 validation error detected: Value '{{{longKey}=v}}' at 'tags' failed to satisfy constraint: " +
            "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]",
            ValidationMessage(await CallAsync(protocol, "AddTagsToStream", new { StreamName = stream, Tags = new Dictionary<string, string> { [longKey] = "v" } })));

        var many = Enumerable.Range(0, 51).ToDictionary(i => $"k{i}", i => $"v{i}");
        var message = ValidationMessage(await CallAsync(protocol, "AddTagsToStream", new { StreamName = stream, Tags = many }));
        Assert.StartsWith("1 validation error detected: Value '{k0=v0, k1=v1, ", message);
        Assert.EndsWith("k50=v50}' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50", message);
        Assert.Equal(0, (await f.OkAsync("ListTagsForStream", new { StreamName = stream })).GetProperty("Tags").GetArrayLength());
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task Every_violated_member_is_counted_in_one_message(string protocol)
    {
        var message = ValidationMessage(await CallAsync(protocol, "AddTagsToStream", new { StreamName = "bad name!", Tags = new Dictionary<string, string>() }));
        Assert.StartsWith("2 validation errors detected: ", message);
        Assert.Contains("Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", message);
        Assert.Contains("Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1", message);
        Assert.Single(message.Split("; "), part => part.Contains("'streamName'"));
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task Member_constraints_come_before_shard_syntax_and_existence(string protocol)
    {
        var missing = StandaloneFixture.NewStreamName("vw-missing");
        // The stream does not exist, but the empty list is what AWS reports first.
        ValidationMessage(await CallAsync(protocol, "PutRecords", new { StreamName = missing, Records = Array.Empty<object>() }));
        // A shard id outside the member pattern is a ValidationException even on a missing stream.
        var bad = ValidationMessage(await CallAsync(protocol, "GetShardIterator", new { StreamName = missing, ShardId = "shard id!", ShardIteratorType = "LATEST" }));
        Assert.Contains("Value 'shard id!' at 'shardId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", bad);
        // A well-formed id on a missing stream: the stream's absence is reported.
        var absent = await CallAsync(protocol, "GetShardIterator", new { StreamName = missing, ShardId = "shardId-0", ShardIteratorType = "LATEST" });
        Assert.Equal("ResourceNotFoundException", absent.Type);
    }
}

/// <summary>SerializationException texts as AWS's Java front end writes them, in JSON and CBOR, and nothing stored.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class SerializationWordingTests(StandaloneFixture f)
{
    private Task<KinesisAnswer> CallAsync(string protocol, string operation, object request) =>
        protocol == "cbor" ? f.CallCborAsync(operation, request) : f.CallAsync(operation, request);

    private static void AssertFault(KinesisAnswer answer, string message)
    {
        Assert.True(answer.Status == 400, $"expected 400, got {answer.Status}: {answer.Body}");
        Assert.Equal("SerializationException", answer.Type);
        Assert.Equal(message, answer.Message);
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task Numbers_for_text_and_blob_members_use_java_type_names(string protocol)
    {
        var stream = StandaloneFixture.NewStreamName("sw");
        await f.CreateStreamAsync(stream);
        AssertFault(await CallAsync(protocol, "PutRecord", new { StreamName = stream, PartitionKey = 5, Data = "AA==" }),
            "class java.math.BigDecimal can not be converted to an String");
        AssertFault(await CallAsync(protocol, "PutRecord", new { StreamName = stream, PartitionKey = "a", Data = 5 }),
            "class java.math.BigDecimal can not be converted to a Blob");
        Assert.Empty(await f.ReadAllAsync(stream, "shardId-000000000000"));
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task Scalars_for_map_and_list_members_name_the_shape_expected(string protocol)
    {
        var stream = StandaloneFixture.NewStreamName("sw");
        await f.CreateStreamAsync(stream);
        AssertFault(await CallAsync(protocol, "AddTagsToStream", new { StreamName = stream, Tags = "team=a" }), "Expected map or null");
        AssertFault(await CallAsync(protocol, "AddTagsToStream", new { StreamName = stream, Tags = 3 }), "Expected map or null");
        AssertFault(await CallAsync(protocol, "RemoveTagsFromStream", new { StreamName = stream, TagKeys = "team" }), "Expected list or null");
        AssertFault(await CallAsync(protocol, "PutRecords", new { StreamName = stream, Records = 1 }), "Expected list or null");
        Assert.Equal(0, (await f.OkAsync("ListTagsForStream", new { StreamName = stream })).GetProperty("Tags").GetArrayLength());
    }

    [Theory]
    [InlineData("json")]
    [InlineData("cbor")]
    public async Task An_AT_TIMESTAMP_in_the_future_is_refused_with_both_times(string protocol)
    {
        var stream = StandaloneFixture.NewStreamName("sw");
        await f.CreateStreamAsync(stream);
        // Whole seconds, so the JSON form's fraction converts to milliseconds exactly.
        var future = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds());
        // JSON carries epoch seconds with a fraction; CBOR's integer beyond 10^11 is read as milliseconds.
        object timestamp = protocol == "cbor" ? future.ToUnixTimeMilliseconds() : future.ToUnixTimeMilliseconds() / 1000.0;
        var answer = await CallAsync(protocol, "GetShardIterator",
            new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "AT_TIMESTAMP", Timestamp = timestamp });
        Assert.Equal("InvalidArgumentException", answer.Type);
        Assert.StartsWith($"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {future.ToUnixTimeMilliseconds()}, currentTimestampInMillis: ",
            answer.Body.GetProperty("message").GetString());
    }
}
