using System.Formats.Cbor;
using System.Text;

namespace Runnel.Hardening.Tests;

/// <summary>Input that once answered 500: each is a 4xx in AWS's shape now, and the server keeps serving.</summary>
[Collection(HardeningCollection.Name)]
public sealed class BadInputTests(HardeningFixture f)
{
    private static readonly string[] Operations = FuzzCorpus.Operations;

    /// <summary>Every string member any operation reads, so that each parser meets the bad string.</summary>
    private static readonly string[] StringMembers =
    [
        "StreamName", "StreamARN", "PartitionKey", "ShardId", "ShardIteratorType", "ShardIterator", "ExclusiveStartShardId",
        "NextToken", "ExplicitHashKey", "ConsumerName", "ConsumerARN", "ResourceARN", "StreamModeDetails", "ScalingType",
        "ShardToSplit", "NewStartingHashKey", "ShardToMerge", "AdjacentShardToMerge", "StartingSequenceNumber",
    ];

    private static void AssertClientError(Answer answer, string what)
    {
        Assert.True(answer.Status is >= 400 and < 500, $"{what}: answered {answer.Status} {answer.Text}");
        Assert.False(string.IsNullOrEmpty(answer.Type), $"{what}: no __type in {answer.Text}");
    }

    [Fact]
    public async Task Invalid_utf8_and_lone_surrogates_in_any_json_string_are_SerializationException()
    {
        var stream = HardeningFixture.NewStreamName("utf8");
        await f.CreateStreamAsync(stream);
        byte[][] badStrings =
        [
            [0xC3, 0x28],              // a lead byte without its continuation
            [0xED, 0xA0, 0x80],        // a UTF-16 surrogate encoded as UTF-8
            [0xFF],
            "\\ud800"u8.ToArray(),     // an escaped lone high surrogate
            "\\udc00x"u8.ToArray(),    // an escaped lone low surrogate
        ];
        // Operations that would change the stream get a name that does not exist; a member an operation does not
        // read is skipped unread (as AWS does), so only "no fault" holds for every pair.
        foreach (var operation in Operations)
            foreach (var member in StringMembers)
                foreach (var bad in badStrings)
                {
                    var target = operation is "DeleteStream" or "CreateStream" ? "other-" + stream[..20] : stream;
                    var body = new MemoryStream();
                    body.Write(Encoding.UTF8.GetBytes($$"""{"StreamName":"{{target}}","Data":"AA==","{{member}}":"k"""));
                    body.Write(bad);
                    body.Write("\"}"u8);
                    var answer = await f.CallAsync(operation, body.ToArray());
                    Assert.True(answer.Status < 500 && (answer.Status == 200 || !string.IsNullOrEmpty(answer.Type)),
                        $"{operation} with a bad {member}: answered {answer.Status} {answer.Text}");
                    if (member is "StreamName" or "PartitionKey" && operation is "PutRecord" || member == "StreamName" && operation == "DescribeStreamSummary")
                        Assert.True(answer.Status == 400 && answer.Type == "SerializationException", $"{operation} with a bad {member}: {answer.Status} {answer.Text}");
                }
        // The same byte in a tag key and value, a map the operation reads key by key.
        var tag = Encoding.UTF8.GetBytes($$"""{"StreamName":"{{stream}}","Tags":{"k""").Concat(new byte[] { 0xC3, 0x28 }).Concat("\":\"v\"}}"u8.ToArray()).ToArray();
        AssertClientError(await f.CallAsync("AddTagsToStream", tag), "AddTagsToStream with a bad tag key");
        Assert.Equal(0, (await f.OkAsync("ListTagsForStream", new { StreamName = stream })).GetProperty("Tags").GetArrayLength());
    }

    [Fact]
    public async Task Invalid_utf8_on_the_rest_route_is_SerializationException()
    {
        var stream = HardeningFixture.NewStreamName("rest");
        await f.CreateStreamAsync(stream);
        foreach (var bad in new[] { new byte[] { 0xC3, 0x28 }, "\\ud800"u8.ToArray() })
        {
            foreach (var member in new[] { "partitionKey", "explicitHashKey", "value", "data" })
            {
                var body = Encoding.UTF8.GetBytes($$"""{"partitionKey":"k","data":"AA==","{{member}}":"x""").Concat(bad).Concat("\"}"u8.ToArray()).ToArray();
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/streams/{stream}/records") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new("application/json");
                var answer = await f.SendAsync(request);
                AssertClientError(answer, $"REST record with a bad {member}");
            }
        }
    }

    private static byte[] Cbor(Action<CborWriter> members)
    {
        var w = new CborWriter(CborConformanceMode.Lax);
        w.WriteStartMap(null);
        members(w);
        w.WriteEndMap();
        return w.Encode();
    }

    [Fact]
    public async Task Cbor_integers_beyond_64_bits_and_non_finite_numbers_are_client_errors()
    {
        const string cbor = "application/x-amz-cbor-1.1";
        var stream = HardeningFixture.NewStreamName("cbor");
        await f.CreateStreamAsync(stream);
        Action<CborWriter>[] numbers =
        [
            w => w.WriteUInt64(ulong.MaxValue),
            w => w.WriteCborNegativeIntegerRepresentation(ulong.MaxValue),
            w => w.WriteDouble(double.NaN),
            w => w.WriteDouble(double.PositiveInfinity),
            w => w.WriteSingle(float.NegativeInfinity),
            w => w.WriteHalf(Half.NaN),
            w => w.WriteDouble(1e308),
        ];
        string[] numberMembers = ["ShardCount", "Limit", "MaxResults", "RetentionPeriodHours", "TargetShardCount", "MaxRecordSizeInKiB", "StreamCreationTimestamp"];
        foreach (var operation in Operations)
            foreach (var member in numberMembers)
                foreach (var number in numbers)
                {
                    var target = operation is "DeleteStream" or "CreateStream" ? "other-" + stream[..20] : stream;
                    var answer = await f.CallAsync(operation, Cbor(w =>
                    {
                        w.WriteTextString("StreamName"); w.WriteTextString(target);
                        w.WriteTextString(member); number(w);
                    }), cbor);
                    // A member the operation does not read is skipped unread; one it reads is a client error.
                    Assert.True(answer.Status < 500 && (answer.Status == 200 || !string.IsNullOrEmpty(answer.Type)),
                        $"{operation} with CBOR {member}: answered {answer.Status} {answer.Text}");
                    if (operation == "CreateStream" && member == "ShardCount" || operation == "IncreaseStreamRetentionPeriod" && member == "RetentionPeriodHours")
                        AssertClientError(answer, $"{operation} with CBOR {member}");
                }
        foreach (var number in numbers)
        {
            var answer = await f.CallAsync("GetShardIterator", Cbor(w =>
            {
                w.WriteTextString("StreamName"); w.WriteTextString(stream);
                w.WriteTextString("ShardId"); w.WriteTextString("shardId-000000000000");
                w.WriteTextString("ShardIteratorType"); w.WriteTextString("AT_TIMESTAMP");
                w.WriteTextString("Timestamp"); w.WriteTag(CborTag.UnixTimeSeconds); number(w);
            }), cbor);
            AssertClientError(answer, "GetShardIterator with a CBOR timestamp");
        }
    }

    [Fact]
    public async Task A_timestamp_of_1e308_is_a_client_error_in_subscribe_and_event_source_mappings()
    {
        var stream = HardeningFixture.NewStreamName("ts");
        await f.CreateStreamAsync(stream);
        var arn = (await f.OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary").GetProperty("StreamARN").GetString()!;
        var consumer = (await f.OkAsync("RegisterStreamConsumer", new { StreamARN = arn, ConsumerName = "c" })).GetProperty("Consumer").GetProperty("ConsumerARN").GetString()!;
        foreach (var at in new[] { "1e308", "-1e308", "1e300", "253402300800" })
        {
            var subscribe = await f.CallAsync("SubscribeToShard",
                $$$"""{"ConsumerARN":"{{{consumer}}}","ShardId":"shardId-000000000000","StartingPosition":{"Type":"AT_TIMESTAMP","Timestamp":{{{at}}}}}""");
            AssertClientError(subscribe, $"SubscribeToShard at {at}");

            using var request = new HttpRequestMessage(HttpMethod.Post, "/2015-03-31/event-source-mappings/")
            {
                Content = new StringContent($$"""{"EventSourceArn":"{{arn}}","FunctionName":"{{HardeningFixture.UnreachableFunction}}","StartingPosition":"AT_TIMESTAMP","StartingPositionTimestamp":{{at}}}""", Encoding.UTF8, "application/json"),
            };
            var mapping = await f.SendAsync(request);
            Assert.True(mapping.Status is >= 400 and < 500, $"CreateEventSourceMapping at {at}: {mapping.Status} {mapping.Text}");
        }
    }

    [Fact]
    public async Task Broken_http_framing_is_answered_400_or_closed_never_500()
    {
        var stream = HardeningFixture.NewStreamName("frame");
        await f.CreateStreamAsync(stream);
        var json = Encoding.UTF8.GetBytes($$"""{"StreamName":"{{stream}}","PartitionKey":"k","Data":"AA=="}""");
        string Head(string framing) =>
            $"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.PutRecord\r\n{framing}\r\n";
        string[] requests =
        [
            Head("Transfer-Encoding: chunked\r\n") + "zz\r\nabc\r\n0\r\n\r\n",
            Head("Transfer-Encoding: chunked\r\n") + "5\r\nabc\r\n0\r\n\r\n",
            Head("Transfer-Encoding: chunked\r\n") + "FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n",
            Head("Transfer-Encoding: chunked\r\n") + "3\r\nabc",
            Head("Transfer-Encoding: chunked\r\n") + "3;ext=\"\r\nabc\r\n0\r\n\r\n",
            Head($"Content-Length: {json.Length + 50}\r\n") + Encoding.UTF8.GetString(json),
            Head("Content-Length: 10\r\nContent-Length: 12\r\n") + "0123456789",
            Head("Content-Length: -1\r\n"),
            Head("Content-Length: 99999999999999999999\r\n"),
            Head("Transfer-Encoding: gzip\r\n") + "abc",
        ];
        foreach (var request in requests)
        {
            var raw = await f.RawAsync(Encoding.ASCII.GetBytes(request));
            Assert.All(HardeningFixture.Statuses(raw), s => Assert.True(s < 500, $"{s} for:\n{request}\n---\n{raw}"));
        }
        // The REST route reads its body as a stream: a short one must not surface as a fault either.
        var rest = $"POST /v1/streams/{stream}/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"partitionKey\":\"k\",";
        var restAnswer = await f.RawAsync(Encoding.ASCII.GetBytes(rest));
        Assert.All(HardeningFixture.Statuses(restAnswer), s => Assert.True(s < 500, $"{s} for the short REST body\n{restAnswer}"));

        var alive = await f.CallAsync("PutRecord", json);
        Assert.Equal(200, alive.Status);
    }
}
