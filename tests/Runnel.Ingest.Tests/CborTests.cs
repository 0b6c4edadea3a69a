using System.Formats.Cbor;
using System.Net.Http.Headers;
using Runnel.TestKit;

namespace Runnel.Ingest.Tests;

/// <summary>The CBOR 1.1 protocol as the Java SDKs speak it: byte-string blobs, tag-1 timestamps in milliseconds.</summary>
[Collection(StandaloneCollection.Name)]
public sealed class CborTests(StandaloneFixture f)
{
    private async Task<(int Status, Dictionary<string, object?> Body, string? ContentType)> CallAsync(string operation, Action<CborWriter> body)
    {
        var writer = new CborWriter();
        writer.WriteStartMap(null);
        body(writer);
        writer.WriteEndMap();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new ByteArrayContent(writer.Encode()) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-cbor-1.1");
        request.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await f.Http.SendAsync(request, TestContext.Current.CancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, CborDocument.Read(bytes), response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Put_and_get_records_in_cbor()
    {
        var stream = StandaloneFixture.NewStreamName("cbor");
        var created = await CallAsync("CreateStream", w =>
        {
            w.WriteTextString("StreamName"); w.WriteTextString(stream);
            w.WriteTextString("ShardCount"); w.WriteInt32(1);
        });
        Assert.Equal(200, created.Status);
        Assert.Equal("application/x-amz-cbor-1.1", created.ContentType);

        var payload = new byte[] { 0, 1, 2, 255 };
        var put = await CallAsync("PutRecords", w =>
        {
            w.WriteTextString("StreamName"); w.WriteTextString(stream);
            w.WriteTextString("Records");
            w.WriteStartArray(1);
            w.WriteStartMap(2);
            w.WriteTextString("Data"); w.WriteByteString(payload);
            w.WriteTextString("PartitionKey"); w.WriteTextString("k");
            w.WriteEndMap();
            w.WriteEndArray();
        });
        Assert.Equal(200, put.Status);
        Assert.Equal(0L, put.Body["FailedRecordCount"]);

        var iterator = await CallAsync("GetShardIterator", w =>
        {
            w.WriteTextString("StreamName"); w.WriteTextString(stream);
            w.WriteTextString("ShardId"); w.WriteTextString("shardId-000000000000");
            w.WriteTextString("ShardIteratorType"); w.WriteTextString("AT_TIMESTAMP");
            w.WriteTextString("Timestamp"); w.WriteTag(CborTag.UnixTimeSeconds); w.WriteInt64(DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds());
        });
        Assert.Equal(200, iterator.Status);
        var before = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();
        var records = await CallAsync("GetRecords", w => { w.WriteTextString("ShardIterator"); w.WriteTextString((string)iterator.Body["ShardIterator"]!); });
        Assert.Equal(200, records.Status);
        var record = (Dictionary<string, object?>)Assert.Single((List<object?>)records.Body["Records"]!)!;
        Assert.Equal(payload, (byte[])record["Data"]!);
        Assert.Equal("k", record["PartitionKey"]);
        var (tag, millis) = ((CborTag, object?))record["ApproximateArrivalTimestamp"]!;
        Assert.Equal(CborTag.UnixTimeSeconds, tag);
        Assert.InRange((long)millis!, before, DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Cbor_errors_are_cbor_maps()
    {
        var wrongType = await CallAsync("PutRecord", w =>
        {
            w.WriteTextString("StreamName"); w.WriteTextString("x");
            w.WriteTextString("PartitionKey"); w.WriteTextString("k");
            w.WriteTextString("Data"); w.WriteInt32(5);
        });
        Assert.Equal(400, wrongType.Status);
        Assert.Equal("SerializationException", wrongType.Body["__type"]);
        var missing = await CallAsync("DescribeStream", _ => { });
        Assert.Equal("ValidationException", missing.Body["__type"]);
    }
}
