using System.Text;
using System.Text.Json;
using Runnel.TestKit;
using static Runnel.FanOut.Mappings.Tests.KinesisClient;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>
/// Delivery through a real Standalone (engine, SQLite) to a receiver the test stands up: batches, the body Lambda
/// receives, parallelization, retries, bisection, partial batch responses, the on-failure stream, disable/enable.
/// </summary>
[Collection(StandaloneHostCollection.Name)]
public sealed class DeliveryTests(StandaloneHostFixture host)
{
    private const string Path = "/2015-03-31/event-source-mappings/";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> CreateMappingAsync(object request)
    {
        var reply = await host.LambdaAsync(HttpMethod.Post, Path, request);
        Assert.True(reply.Status == 202, $"create answered {reply.Status}: {reply.Body}");
        return reply.Body.GetProperty("UUID").GetString()!;
    }

    private static Task UntilAsync(Func<bool> condition, string what) =>
        Wait.UntilAsync(() => Task.FromResult(condition()), Patience, what, cancellationToken: Ct);

    [Fact]
    public async Task Delivers_every_record_in_batches_in_the_shape_Lambda_receives()
    {
        var stream = NewName("esm-shape");
        await CreateStreamAsync(host.Http, stream);
        var sequences = await PutAsync(host.Http, stream, Enumerable.Range(0, 25).Select(i => ($"key-{i % 3}", $"record-{i}")));
        await using var receiver = await Receiver.StartAsync();
        await CreateMappingAsync(new { EventSourceArn = StreamArn(stream), FunctionName = receiver.Url, StartingPosition = "TRIM_HORIZON", BatchSize = 10 });

        await UntilAsync(() => receiver.Accepted.Count >= 25, "25 records at the receiver");
        var invocations = receiver.Invocations;
        Assert.Equal([10, 10, 5], invocations.Select(i => i.Records.Count));
        Assert.Equal(sequences, receiver.Accepted.Select(r => r.SequenceNumber));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"record-{i}"), receiver.Accepted.Select(r => Encoding.UTF8.GetString(Convert.FromBase64String(r.Data))));

        // Member by member, in order, as AWS Lambda receives a Kinesis record.
        using var doc = JsonDocument.Parse(invocations[0].Body);
        Assert.Equal(["Records"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        var first = doc.RootElement.GetProperty("Records")[0];
        Assert.Equal(["kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn", "awsRegion", "eventSourceARN"],
            first.EnumerateObject().Select(p => p.Name));
        var kinesis = first.GetProperty("kinesis");
        Assert.Equal(["kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data", "approximateArrivalTimestamp"], kinesis.EnumerateObject().Select(p => p.Name));
        Assert.Equal("1.0", kinesis.GetProperty("kinesisSchemaVersion").GetString());
        Assert.Equal("key-0", kinesis.GetProperty("partitionKey").GetString());
        Assert.Equal(sequences[0], kinesis.GetProperty("sequenceNumber").GetString());
        Assert.Equal(Convert.ToBase64String("record-0"u8.ToArray()), kinesis.GetProperty("data").GetString());
        var arrival = kinesis.GetProperty("approximateArrivalTimestamp").GetDouble();
        Assert.InRange(arrival, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        Assert.Equal("aws:kinesis", first.GetProperty("eventSource").GetString());
        Assert.Equal("1.0", first.GetProperty("eventVersion").GetString());
        Assert.Equal($"shardId-000000000000:{sequences[0]}", first.GetProperty("eventID").GetString());
        Assert.Equal("aws:kinesis:record", first.GetProperty("eventName").GetString());
        Assert.Equal($"arn:aws:iam::{Account}:role/runnel-event-source-mapping", first.GetProperty("invokeIdentityArn").GetString());
        Assert.Equal("us-east-1", first.GetProperty("awsRegion").GetString());
        Assert.Equal(StreamArn(stream), first.GetProperty("eventSourceARN").GetString());

        // Records put later flow on as they become durable.
        var more = await PutAsync(host.Http, stream, [("key-9", "late")]);
        await UntilAsync(() => receiver.Accepted.Any(r => r.SequenceNumber == more[0]), "the late record");
    }

    [Fact]
    public async Task LATEST_starts_after_what_the_stream_held_at_creation()
    {
        var stream = NewName("esm-latest");
        await CreateStreamAsync(host.Http, stream);
        await PutAsync(host.Http, stream, [("k", "before")]);
        await using var receiver = await Receiver.StartAsync();
        await CreateMappingAsync(new { EventSourceArn = StreamArn(stream), FunctionName = receiver.Url, StartingPosition = "LATEST" });
        var after = await PutAsync(host.Http, stream, [("k", "after-1"), ("k", "after-2")]);
        await UntilAsync(() => receiver.Accepted.Count >= 2, "the records put after creation");
        Assert.Equal(after, receiver.Accepted.Select(r => r.SequenceNumber));
    }

    [Fact]
    public async Task AT_TIMESTAMP_through_the_API_starts_at_the_first_record_at_or_after_the_timestamp()
    {
        var stream = NewName("esm-at");
        await CreateStreamAsync(host.Http, stream);
        await PutAsync(host.Http, stream, [("k", "before-1"), ("k", "before-2")]);
        // The timestamp is a millisecond after the last record put so far, as the stream stamped it.
        var lastArrival = (await ReadAllAsync(host.Http, stream))[^1].GetProperty("ApproximateArrivalTimestamp").GetDouble();
        var at = DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(lastArrival * 1000) + 1);
        await UntilAsync(() => DateTimeOffset.UtcNow > at, "the clock to pass the timestamp");
        var after = await PutAsync(host.Http, stream, [("k", "after-1"), ("k", "after-2")]);
        await using var receiver = await Receiver.StartAsync();
        await CreateMappingAsync(new
        {
            EventSourceArn = StreamArn(stream),
            FunctionName = receiver.Url,
            StartingPosition = "AT_TIMESTAMP",
            StartingPositionTimestamp = at.ToUnixTimeMilliseconds() / 1000.0,
        });
        after.AddRange(await PutAsync(host.Http, stream, [("k", "later")]));
        await UntilAsync(() => receiver.Accepted.Count >= 3, "the records from the timestamp on");
        Assert.Equal(after, receiver.Accepted.Select(r => r.SequenceNumber));
    }

    [Fact]
    public async Task Parallelization_keeps_the_order_of_each_key_across_lanes()
    {
        var stream = NewName("esm-par");
        await CreateStreamAsync(host.Http, stream, shards: 2);
        const int keys = 16, perKey = 40;
        var records = Enumerable.Range(0, perKey).SelectMany(n => Enumerable.Range(0, keys).Select(k => ($"key-{k}", $"{k}:{n}"))).ToList();
        await using var receiver = await Receiver.StartAsync();
        var inFlight = 0;
        var maxInFlight = 0;
        receiver.Respond = _ =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref maxInFlight, now);
            Thread.Sleep(20);
            Interlocked.Decrement(ref inFlight);
            return Answer.Ok;
        };
        await CreateMappingAsync(new { EventSourceArn = StreamArn(stream), FunctionName = receiver.Url, StartingPosition = "TRIM_HORIZON", BatchSize = 7, ParallelizationFactor = 5 });
        await PutAsync(host.Http, stream, records);

        await UntilAsync(() => receiver.Accepted.Count >= records.Count, $"{records.Count} records at the receiver");
        var received = receiver.Accepted.Select(r => Encoding.UTF8.GetString(Convert.FromBase64String(r.Data))).ToList();
        Assert.Equal(records.Count, received.Distinct().Count());
        foreach (var group in received.Select(d => d.Split(':')).GroupBy(p => p[0]))
            Assert.Equal(Enumerable.Range(0, perKey), group.Select(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.All(receiver.Invocations, i => Assert.InRange(i.Records.Count, 1, 7));
        Assert.True(maxInFlight > 1, "batches of one shard should have been delivered concurrently");
    }

    [Fact]
    public async Task A_failing_batch_is_retried_bisected_and_lands_on_the_failure_stream()
    {
        var stream = NewName("esm-fail");
        var dlq = NewName("esm-fail-dlq");
        await CreateStreamAsync(host.Http, stream);
        await CreateStreamAsync(host.Http, dlq);
        var sequences = await PutAsync(host.Http, stream, Enumerable.Range(0, 8).Select(i => ("k", i == 5 ? "poison" : $"ok-{i}")));
        await using var receiver = await Receiver.StartAsync();
        receiver.Respond = batch => batch.Any(r => Encoding.UTF8.GetString(Convert.FromBase64String(r.Data)) == "poison")
            ? new Answer(500, "{\"errorMessage\":\"poison\"}")
            : Answer.Ok;
        await CreateMappingAsync(new
        {
            EventSourceArn = StreamArn(stream),
            FunctionName = receiver.Url,
            StartingPosition = "TRIM_HORIZON",
            BatchSize = 8,
            MaximumRetryAttempts = 2,
            BisectBatchOnFunctionError = true,
            DestinationConfig = new { OnFailure = new { Destination = StreamArn(dlq) } },
        });

        await UntilAsync(() => receiver.Accepted.Count >= 7, "the 7 good records");
        var failure = await WaitForOneRecordAsync(dlq);

        // 8 fails -> [0..3] ok, [4..7] fails -> [4,5] fails -> [4] ok, [5] fails and is retried twice -> [6,7] ok.
        Assert.Equal([8, 4, 4, 2, 1, 1, 1, 1, 2], receiver.Invocations.Select(i => i.Records.Count));
        Assert.Equal(3, receiver.Invocations.Count(i => i.Records.Count == 1 && i.Records[0].SequenceNumber == sequences[5]));
        Assert.Equal(sequences.Where((_, i) => i != 5), receiver.Accepted.Select(r => r.SequenceNumber));

        using var doc = JsonDocument.Parse(Convert.FromBase64String(failure.GetProperty("Data").GetString()!));
        var root = doc.RootElement;
        Assert.Equal("RetryAttemptsExhausted", root.GetProperty("requestContext").GetProperty("condition").GetString());
        Assert.Equal(receiver.Url, root.GetProperty("requestContext").GetProperty("functionArn").GetString());
        Assert.Equal(500, root.GetProperty("responseContext").GetProperty("statusCode").GetInt32());
        Assert.Equal("1.0", root.GetProperty("version").GetString());
        var info = root.GetProperty("KinesisBatchInfo");
        Assert.Equal("shardId-000000000000", info.GetProperty("shardId").GetString());
        Assert.Equal(sequences[5], info.GetProperty("startSequenceNumber").GetString());
        Assert.Equal(sequences[5], info.GetProperty("endSequenceNumber").GetString());
        Assert.Equal(1, info.GetProperty("batchSize").GetInt32());
        Assert.Equal(StreamArn(stream), info.GetProperty("streamArn").GetString());
        var carried = Assert.Single(root.GetProperty("runnelRecords").EnumerateArray());
        Assert.Equal("cG9pc29u", carried.GetProperty("kinesis").GetProperty("data").GetString());
    }

    [Fact]
    public async Task Without_bisection_the_whole_batch_is_retried_then_sent_as_one_failure_record()
    {
        var stream = NewName("esm-nobisect");
        var dlq = NewName("esm-nobisect-dlq");
        await CreateStreamAsync(host.Http, stream);
        await CreateStreamAsync(host.Http, dlq);
        var sequences = await PutAsync(host.Http, stream, Enumerable.Range(0, 6).Select(i => ("k", $"r{i}")));
        await using var receiver = await Receiver.StartAsync();
        receiver.Respond = batch => batch.Count == 4 ? new Answer(502) : Answer.Ok;
        await CreateMappingAsync(new
        {
            EventSourceArn = StreamArn(stream),
            FunctionName = receiver.Url,
            StartingPosition = "TRIM_HORIZON",
            BatchSize = 4,
            MaximumRetryAttempts = 1,
            DestinationConfig = new { OnFailure = new { Destination = StreamArn(dlq) } },
        });
        var failure = await WaitForOneRecordAsync(dlq);
        await UntilAsync(() => receiver.Accepted.Count >= 2, "the batch after the failed one");
        Assert.Equal([4, 4, 2], receiver.Invocations.Select(i => i.Records.Count));
        Assert.Equal(sequences[4..], receiver.Accepted.Select(r => r.SequenceNumber));
        using var doc = JsonDocument.Parse(Convert.FromBase64String(failure.GetProperty("Data").GetString()!));
        var info = doc.RootElement.GetProperty("KinesisBatchInfo");
        Assert.Equal(sequences[0], info.GetProperty("startSequenceNumber").GetString());
        Assert.Equal(sequences[3], info.GetProperty("endSequenceNumber").GetString());
        Assert.Equal(4, info.GetProperty("batchSize").GetInt32());
        Assert.Equal(2, doc.RootElement.GetProperty("requestContext").GetProperty("approximateInvokeCount").GetInt32());
        Assert.Equal(4, doc.RootElement.GetProperty("runnelRecords").GetArrayLength());
    }

    [Fact]
    public async Task Batch_item_failures_retry_from_the_lowest_failed_record()
    {
        var stream = NewName("esm-partial");
        await CreateStreamAsync(host.Http, stream);
        var sequences = await PutAsync(host.Http, stream, Enumerable.Range(0, 10).Select(i => ($"k{i}", $"r{i}")));
        await using var receiver = await Receiver.StartAsync();
        var calls = 0;
        receiver.Respond = batch =>
        {
            switch (Interlocked.Increment(ref calls))
            {
                case 1: // report 6 and 3 failed: everything from 3 on comes again
                    return new Answer(200, JsonSerializer.Serialize(new { batchItemFailures = new[] { new { itemIdentifier = sequences[6] }, new { itemIdentifier = sequences[3] } } }));
                case 2: // an answer that is not a batch response fails the whole batch
                    return new Answer(200, "not json");
                default:
                    return new Answer(200, "{\"batchItemFailures\":[]}");
            }
        };
        await CreateMappingAsync(new
        {
            EventSourceArn = StreamArn(stream),
            FunctionName = receiver.Url,
            StartingPosition = "TRIM_HORIZON",
            BatchSize = 10,
            FunctionResponseTypes = new[] { "ReportBatchItemFailures" },
        });
        await UntilAsync(() => receiver.Invocations.Count >= 3, "three invocations");
        var invocations = receiver.Invocations;
        Assert.Equal(sequences, invocations[0].Records.Select(r => r.SequenceNumber));
        Assert.Equal(sequences[3..], invocations[1].Records.Select(r => r.SequenceNumber));
        Assert.Equal(sequences[3..], invocations[2].Records.Select(r => r.SequenceNumber));
        var more = await PutAsync(host.Http, stream, [("k", "next")]);
        await UntilAsync(() => receiver.Invocations.Count >= 4, "the next batch");
        Assert.Equal(more, receiver.Invocations[3].Records.Select(r => r.SequenceNumber));
    }

    [Fact]
    public async Task A_disabled_mapping_stops_and_resumes_from_its_checkpoint()
    {
        var stream = NewName("esm-toggle");
        await CreateStreamAsync(host.Http, stream);
        await using var receiver = await Receiver.StartAsync();
        var uuid = await CreateMappingAsync(new { EventSourceArn = StreamArn(stream), FunctionName = receiver.Url, StartingPosition = "TRIM_HORIZON", BatchSize = 100 });
        var first = await PutAsync(host.Http, stream, Enumerable.Range(0, 5).Select(i => ("k", $"a{i}")));
        await UntilAsync(() => receiver.Accepted.Count >= 5, "the first records");

        var disabling = await host.LambdaAsync(HttpMethod.Put, Path + uuid, new { Enabled = false });
        Assert.Equal(202, disabling.Status);
        await Wait.UntilAsync(async () => (await host.LambdaAsync(HttpMethod.Get, Path + uuid)).Body.GetProperty("State").GetString() == "Disabled",
            Patience, "the mapping to be Disabled", cancellationToken: Ct);
        var second = await PutAsync(host.Http, stream, Enumerable.Range(0, 5).Select(i => ("k", $"b{i}")));
        // Several scan periods (200 ms each) pass with the mapping disabled: nothing may arrive meanwhile.
        await Task.Delay(TimeSpan.FromSeconds(1.5), Ct);
        Assert.Equal(first, receiver.Accepted.Select(r => r.SequenceNumber));

        await host.LambdaAsync(HttpMethod.Put, Path + uuid, new { Enabled = true });
        await UntilAsync(() => receiver.Accepted.Count >= 10, "the records put while disabled");
        Assert.Equal(first.Concat(second), receiver.Accepted.Select(r => r.SequenceNumber));
        var state = (await host.LambdaAsync(HttpMethod.Get, Path + uuid)).Body;
        Assert.Equal("OK", state.GetProperty("LastProcessingResult").GetString());
    }

    [Fact]
    public async Task Children_of_a_split_are_delivered_after_their_parent_keeping_per_key_order()
    {
        var stream = NewName("esm-split");
        await CreateStreamAsync(host.Http, stream);
        await using var receiver = await Receiver.StartAsync();
        receiver.Respond = _ =>
        {
            Thread.Sleep(10);
            return Answer.Ok;
        };
        await CreateMappingAsync(new { EventSourceArn = StreamArn(stream), FunctionName = receiver.Url, StartingPosition = "TRIM_HORIZON", BatchSize = 5 });
        const int keys = 8;
        await PutAsync(host.Http, stream, Enumerable.Range(0, 20).SelectMany(n => Enumerable.Range(0, keys).Select(k => ($"key-{k}", $"{k}:{n}"))));
        await host.KinesisAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "170141183460469231731687303715884105728" });
        await Wait.UntilAsync(async () => (await host.KinesisAsync("DescribeStreamSummary", new { StreamName = stream }))
            .GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString() == "ACTIVE", Patience, "the split to finish", cancellationToken: Ct);
        await PutAsync(host.Http, stream, Enumerable.Range(20, 20).SelectMany(n => Enumerable.Range(0, keys).Select(k => ($"key-{k}", $"{k}:{n}"))));

        await UntilAsync(() => receiver.Accepted.Count >= keys * 40, "every record of parent and children");
        var received = receiver.Accepted.Select(r => (r.Raw.GetProperty("eventID").GetString()!, Encoding.UTF8.GetString(Convert.FromBase64String(r.Data)).Split(':'))).ToList();
        Assert.Equal(keys * 40, received.Select(r => string.Join(':', r.Item2)).Distinct().Count());
        foreach (var group in received.GroupBy(r => r.Item2[0]))
            Assert.Equal(Enumerable.Range(0, 40), group.Select(r => int.Parse(r.Item2[1], System.Globalization.CultureInfo.InvariantCulture)));
        // Every record of the parent came before any record of a child.
        var lastParent = received.FindLastIndex(r => r.Item1.StartsWith("shardId-000000000000:", StringComparison.Ordinal));
        var firstChild = received.FindIndex(r => !r.Item1.StartsWith("shardId-000000000000:", StringComparison.Ordinal));
        Assert.True(firstChild > lastParent, $"a child record (at {firstChild}) came before the parent's last (at {lastParent})");
    }

    private async Task<JsonElement> WaitForOneRecordAsync(string stream)
    {
        List<JsonElement> records = [];
        await Wait.UntilAsync(async () => (records = await ReadAllAsync(host.Http, stream)).Count > 0, Patience, $"a record on {stream}", cancellationToken: Ct);
        return Assert.Single(records);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
