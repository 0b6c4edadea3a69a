namespace Runnel.Hardening.Tests;

/// <summary>
/// The shard nodes' API is not served on Standalone's public port: a client that reaches the port cannot read, seal,
/// purge or delete a shard behind the Kinesis API's back.
/// </summary>
[Collection(HardeningCollection.Name)]
public sealed class InternalRouteTests(HardeningFixture f)
{
    [Fact]
    public async Task The_node_api_is_not_on_the_public_port_and_the_data_survives_attempts()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = HardeningFixture.NewStreamName("int");
        await f.CreateStreamAsync(stream);
        var put = await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "k", Data = "aGk=" });
        Assert.False(string.IsNullOrEmpty(put.GetProperty("SequenceNumber").GetString()));
        var summary = await f.OkAsync("DescribeStreamSummary", new { StreamName = stream });
        // Stream ids are small numbers given out in order; the fixture's streams, this one among them, are below 50.
        var attempts = Enumerable.Range(1, 50).SelectMany(id => new (HttpMethod Method, string Path)[]
        {
            (HttpMethod.Get, $"/internal/shards/{id}/0/read?from=0&max=10"),
            (HttpMethod.Get, $"/internal/shards/{id}/0/state"),
            (HttpMethod.Post, $"/internal/shards/{id}/0/seal?epoch=999"),
            (HttpMethod.Put, $"/internal/shards/{id}/0/settings?epoch=999"),
            (HttpMethod.Delete, $"/internal/shards/{id}/0/?epoch=999"),
        });
        foreach (var (method, path) in attempts)
        {
            using var request = new HttpRequestMessage(method, path) { Content = method == HttpMethod.Get ? null : new ByteArrayContent(new byte[16]) };
            using var response = await f.Http.SendAsync(request, ct);
            Assert.True((int)response.StatusCode is 404 or 405, $"{method} {path} answered {(int)response.StatusCode}");
        }

        // The gateway's forwarding routes, which trust the principal header they are given, are not served either.
        foreach (var route in new[] { "/v1/fanout/kinesis", "/v1/firehose/aws", "/v1/analytics/aws" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = new ByteArrayContent("{}"u8.ToArray()) };
            request.Headers.Add("X-Amz-Target", "Firehose_20150804.ListDeliveryStreams");
            request.Headers.Add("X-Runnel-Principal", "arn:aws:iam::000000000000:user/admin");
            using var response = await f.Http.SendAsync(request, ct);
            Assert.True(response.StatusCode == System.Net.HttpStatusCode.NotFound, $"POST {route} answered {(int)response.StatusCode}");
        }

        // The record is still there and the shard still takes writes.
        var iterator = (await f.OkAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        var records = (await f.OkAsync("GetRecords", new { ShardIterator = iterator })).GetProperty("Records");
        Assert.Equal(1, records.GetArrayLength());
        Assert.Equal("aGk=", records[0].GetProperty("Data").GetString());
        await f.OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "k", Data = "aGk=" });
        Assert.Equal("ACTIVE", summary.GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString());
    }
}
