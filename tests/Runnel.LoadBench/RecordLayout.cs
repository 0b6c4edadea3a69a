using System.Buffers.Binary;
using System.Buffers.Text;
using System.Text;

namespace Runnel.LoadBench;

/// <summary>
/// Every record's data starts with a 12-byte id: the producer (4 bytes) and that producer's sequence (8 bytes),
/// big-endian, followed by random filler. 12 bytes are exactly 16 base64 characters, so the id of a record inside
/// a prebuilt JSON body can be rewritten in place without re-encoding the rest of the record, and a reader can
/// decode the id from the first 16 characters of the Data text without decoding the whole record.
/// </summary>
public static class RecordLayout
{
    public const int IdBytes = 12;
    public const int IdChars = 16;

    public static void WriteId(Span<byte> base64, uint producer, ulong sequence)
    {
        Span<byte> id = stackalloc byte[IdBytes];
        BinaryPrimitives.WriteUInt32BigEndian(id, producer);
        BinaryPrimitives.WriteUInt64BigEndian(id[4..], sequence);
        Base64.EncodeToUtf8(id, base64[..IdChars], out _, out _);
    }

    public static bool TryReadId(ReadOnlySpan<byte> base64, out uint producer, out ulong sequence)
    {
        producer = 0;
        sequence = 0;
        if (base64.Length < IdChars)
            return false;
        Span<byte> id = stackalloc byte[IdBytes];
        if (Base64.DecodeFromUtf8(base64[..IdChars], id, out _, out var written, isFinalBlock: false) != System.Buffers.OperationStatus.Done || written != IdBytes)
            return false;
        producer = BinaryPrimitives.ReadUInt32BigEndian(id);
        sequence = BinaryPrimitives.ReadUInt64BigEndian(id[4..]);
        return true;
    }

    /// <summary>Random data of the given size whose first 12 bytes will be replaced by an id; encoded as base64.</summary>
    public static string RandomData(Random random, int bytes)
    {
        var data = new byte[bytes];
        random.NextBytes(data);
        return Convert.ToBase64String(data);
    }

    /// <summary>A partition key of 16 hex characters (MD5 spreads such keys evenly over the shards).</summary>
    public static string RandomKey(Random random) => random.NextInt64().ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// A request body built once and reused: only the record ids change between requests, rewritten in place at
/// <see cref="IdOffsets"/>. A body is never changed while a request that sends it is in flight.
/// </summary>
public sealed class RequestTemplate
{
    private RequestTemplate(byte[] body, int[] idOffsets)
    {
        Body = body;
        IdOffsets = idOffsets;
    }

    public byte[] Body { get; }

    public int[] IdOffsets { get; }

    public int RecordCount => IdOffsets.Length;

    public void SetIds(uint producer, ulong firstSequence)
    {
        for (var i = 0; i < IdOffsets.Length; i++)
            RecordLayout.WriteId(Body.AsSpan(IdOffsets[i]), producer, firstSequence + (ulong)i);
    }

    /// <summary>A PutRecords body with <paramref name="count"/> records of random keys and data.</summary>
    public static RequestTemplate PutRecords(string stream, int count, int recordBytes, Random random) =>
        Batch("StreamName", stream, count, recordBytes, random, keyed: true);

    /// <summary>A Firehose PutRecordBatch body with <paramref name="count"/> records of random data.</summary>
    public static RequestTemplate PutRecordBatch(string deliveryStream, int count, int recordBytes, Random random) =>
        Batch("DeliveryStreamName", deliveryStream, count, recordBytes, random, keyed: false);

    private static RequestTemplate Batch(string nameMember, string name, int count, int recordBytes, Random random, bool keyed)
    {
        var text = new StringBuilder(count * (recordBytes * 4 / 3 + 64) + 64);
        var offsets = new int[count];
        text.Append("{\"").Append(nameMember).Append("\":\"").Append(name).Append("\",\"Records\":[");
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
                text.Append(',');
            text.Append('{');
            if (keyed)
                text.Append("\"PartitionKey\":\"").Append(RecordLayout.RandomKey(random)).Append("\",");
            text.Append("\"Data\":\"");
            // The body is ASCII, so a character offset is a byte offset.
            offsets[i] = text.Length;
            text.Append(RecordLayout.RandomData(random, recordBytes)).Append("\"}");
        }
        text.Append("]}");
        return new RequestTemplate(Encoding.ASCII.GetBytes(text.ToString()), offsets);
    }

    /// <summary>A PutRecord body with a random key and data.</summary>
    public static RequestTemplate PutRecord(string stream, int recordBytes, Random random)
    {
        var text = new StringBuilder(recordBytes * 4 / 3 + 96);
        text.Append("{\"StreamName\":\"").Append(stream).Append("\",\"PartitionKey\":\"").Append(RecordLayout.RandomKey(random)).Append("\",\"Data\":\"");
        var offset = text.Length;
        text.Append(RecordLayout.RandomData(random, recordBytes)).Append("\"}");
        return new RequestTemplate(Encoding.ASCII.GetBytes(text.ToString()), [offset]);
    }
}
