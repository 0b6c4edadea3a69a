using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Runnel.Core.Storage;
using Runnel.Firehose.Delivery;
using Runnel.TestKit;
using Snappier;

namespace Runnel.Firehose.Tests;

/// <summary>
/// ZIP, Snappy and HADOOP_SNAPPY objects in the S3 server on loopback, read back the way their usual readers read them:
/// the ZIP's one entry, Snappy's framing format chunk by chunk, Hadoop's length-prefixed blocks. Each object spans
/// several chunks and blocks, so the framing is exercised, not only one compressed run.
/// </summary>
public sealed class CompressionFormatTests
{
    [Theory]
    [InlineData("ZIP", ".zip")]
    [InlineData("Snappy", ".snappy")]
    [InlineData("HADOOP_SNAPPY", ".hsnappy")]
    public async Task Objects_decode_to_the_records_in_order(string compression, string extension)
    {
        using var data = new TempDirectory("firehose-compression");
        await using var host = await FirehoseHost.StartAsync(data.Path, s3: true);
        var hose = FirehoseHost.NewName("compress");
        var bucket = FirehoseHost.NewBucket();
        await host.CreateS3DeliveryStreamAsync(hose, bucket, sizeInMBs: 1, intervalInSeconds: 1, compression);
        var described = await host.FirehoseAsync("DescribeDeliveryStream", new { DeliveryStreamName = hose });
        Assert.Equal(compression, described.GetProperty("DeliveryStreamDescription").GetProperty("Destinations")[0]
            .GetProperty("ExtendedS3DestinationDescription").GetProperty("CompressionFormat").GetString());

        // 500 records of 600 bytes in one call (one append, so one object): about 300 KB, several 64 KiB chunks.
        var random = new Random(7);
        var records = Enumerable.Range(0, 500)
            .Select(i => Encoding.UTF8.GetBytes($"{{\"n\":{i,3},\"pad\":\"{new string((char)('a' + random.Next(26)), 581)}\"}}\n"))
            .ToList();
        Assert.All(records, r => Assert.Equal(600, r.Length));
        var answer = await host.FirehoseAsync("PutRecordBatch", new { DeliveryStreamName = hose, Records = records.Select(r => new { Data = r }).ToArray() });
        Assert.Equal(0, answer.GetProperty("FailedPutCount").GetInt32());

        var key = Assert.Single(await host.WaitForObjectsAsync(bucket, 1));
        Assert.EndsWith(extension, key, StringComparison.Ordinal);
        var content = await host.Buckets.ReadAsync(bucket, key);
        var expected = records.SelectMany(r => r).ToArray();
        var decoded = compression switch
        {
            "ZIP" => Unzip(content, Path.GetFileNameWithoutExtension(key)),
            "Snappy" => Unframe(content),
            _ => UnblockHadoop(content),
        };
        Assert.Equal(expected.Length, decoded.Length);
        Assert.Equal(expected, decoded);
        Assert.True(content.Length < expected.Length / 4, $"{compression} object of {content.Length} bytes for {expected.Length} bytes of repetitive records");
    }

    /// <summary>An object written again after a crash must replace itself with the same bytes, in every format.</summary>
    [Theory]
    [InlineData("UNCOMPRESSED")]
    [InlineData("GZIP")]
    [InlineData("ZIP")]
    [InlineData("Snappy")]
    [InlineData("HADOOP_SNAPPY")]
    public void Encoding_the_same_records_under_the_same_key_gives_the_same_bytes(string compression)
    {
        var records = Enumerable.Range(0, 300)
            .Select(i => new StoredRecord((ulong)i, 1_780_000_000_000 + i, "k", Encoding.UTF8.GetBytes($"record {i} {new string('x', i)}\n")))
            .ToList();
        const string key = "2026/12/04/03/hose-1-2026-12-04-03-00-00-0b7e1f02-5a9c-4c1e-9d2e-2f1d0c3b4a59";
        var first = ObjectEncoding.Encode(records, compression, key);
        Assert.Equal(first, ObjectEncoding.Encode(records, compression, key));
        Assert.NotEqual(first, ObjectEncoding.Encode(records[..299], compression, key));
    }

    /// <summary>The archive's single entry, named as the object without its extension.</summary>
    private static byte[] Unzip(byte[] content, string entryName)
    {
        using var archive = new ZipArchive(new MemoryStream(content), ZipArchiveMode.Read);
        var entry = Assert.Single(archive.Entries);
        Assert.Equal(entryName, entry.FullName);
        using var stream = entry.Open();
        using var plain = new MemoryStream();
        stream.CopyTo(plain);
        return plain.ToArray();
    }

    /// <summary>
    /// Snappy's framing format (framing_format.txt): a stream identifier chunk <c>ff 06 00 00 "sNaPpY"</c>, then chunks of
    /// a type byte and a 3-byte little-endian length; compressed (0x00) and uncompressed (0x01) data chunks carry a
    /// 4-byte checksum before their data, at most 65,536 bytes of it once uncompressed.
    /// </summary>
    private static byte[] Unframe(byte[] content)
    {
        Assert.Equal([0xff, 0x06, 0x00, 0x00, .. "sNaPpY"u8], content[..10]);
        var output = new MemoryStream();
        var chunks = 0;
        for (var at = 10; at < content.Length;)
        {
            var type = content[at];
            var length = content[at + 1] | content[at + 2] << 8 | content[at + 3] << 16;
            var body = content.AsSpan(at + 4, length);
            at += 4 + length;
            switch (type)
            {
                case 0x00:
                    var plain = Snappy.DecompressToArray(body[4..]);
                    Assert.InRange(plain.Length, 1, 65_536);
                    output.Write(plain);
                    break;
                case 0x01:
                    output.Write(body[4..]);
                    break;
                default:
                    Assert.InRange(type, 0x80, 0xfe); // skippable chunks only
                    break;
            }
            chunks++;
        }
        Assert.True(chunks > 1, "one chunk only");
        return output.ToArray();
    }

    /// <summary>Hadoop's BlockCompressorStream: per block its uncompressed length, then compressed runs until it is reached.</summary>
    private static byte[] UnblockHadoop(byte[] content)
    {
        var output = new MemoryStream();
        var blocks = 0;
        for (var at = 0; at < content.Length;)
        {
            var expected = BinaryPrimitives.ReadInt32BigEndian(content.AsSpan(at));
            at += 4;
            var produced = 0;
            while (produced < expected)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(content.AsSpan(at));
                var plain = Snappy.DecompressToArray(content.AsSpan(at + 4, length));
                at += 4 + length;
                output.Write(plain);
                produced += plain.Length;
            }
            Assert.Equal(expected, produced);
            blocks++;
        }
        Assert.True(blocks > 1, "one block only");
        return output.ToArray();
    }
}
