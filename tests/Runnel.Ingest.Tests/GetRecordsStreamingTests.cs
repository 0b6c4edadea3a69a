using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Runnel.Ingest.Tests;

/// <summary>Large JSON GetRecords answers are sent as they are written; the client sees the same document.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class GetRecordsStreamingTests(StandaloneFixture f)
{
    private const int Count = 8;

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task A_large_answer_is_streamed_and_holds_the_same_records_as_small_answers(string version)
    {
        var stream = StandaloneFixture.NewStreamName("stream");
        await f.CreateStreamAsync(stream, 1);
        // Eight 60 KiB records: a ~660 KB answer (streamed), each alone ~82 KB (buffered), within the 1 MiB write burst.
        var data = Enumerable.Range(0, Count).Select(i => Enumerable.Range(0, 60 * 1024).Select(b => (byte)(b * 7 + i)).ToArray()).ToArray();
        var put = await f.OkAsync("PutRecords", new
        {
            StreamName = stream,
            Records = data.Select((d, i) => new { PartitionKey = "key-" + i, Data = Convert.ToBase64String(d) }).ToArray(),
        });
        Assert.Equal(0, put.GetProperty("FailedRecordCount").GetInt32());
        var iterator = await f.IteratorAsync(stream, "shardId-000000000000");

        var (whole, length, chunked) = await RawGetRecordsAsync(new { ShardIterator = iterator }, Version.Parse(version));
        Assert.Null(length);
        if (version == "1.1")
            Assert.True(chunked);
        using var doc = JsonDocument.Parse(whole);
        var records = doc.RootElement.GetProperty("Records").EnumerateArray().ToList();
        Assert.Equal(Count, records.Count);
        for (var i = 0; i < Count; i++)
        {
            Assert.Equal("key-" + i, records[i].GetProperty("PartitionKey").GetString());
            Assert.Equal(data[i], Convert.FromBase64String(records[i].GetProperty("Data").GetString()!));
        }
        Assert.True(doc.RootElement.TryGetProperty("NextShardIterator", out _));
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("MillisBehindLatest").ValueKind);

        // One record at a time (small, buffered answers with a length): each object is byte for byte the same.
        var next = iterator;
        for (var i = 0; i < Count; i++)
        {
            var (single, singleLength, _) = await RawGetRecordsAsync(new { ShardIterator = next, Limit = 1 }, Version.Parse(version));
            Assert.Equal(single.Length, singleLength);
            using var one = JsonDocument.Parse(single);
            Assert.Equal(records[i].GetRawText(), one.RootElement.GetProperty("Records")[0].GetRawText());
            next = one.RootElement.GetProperty("NextShardIterator").GetString()!;
        }
    }

    private async Task<(byte[] Body, long? ContentLength, bool Chunked)> RawGetRecordsAsync(object request, Version version)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8),
            Version = version,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", "Kinesis_20131202.GetRecords");
        // Headers only: a buffered read would make HttpClient report the length it counted itself.
        using var response = await f.Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-amz-json-1.1", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(version, response.Version);
        var length = response.Content.Headers.ContentLength;
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        return (body, length, response.Headers.TransferEncodingChunked == true);
    }
}
