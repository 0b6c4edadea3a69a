using System.Formats.Cbor;
using System.Text;
using BenchmarkDotNet.Attributes;
using Runnel.Ingest.Protocol;

namespace Runnel.Benchmarks;

/// <summary>
/// Reading request bodies with the service's <see cref="WireReader"/>, driven member by member the way the
/// operations read them (validation is not included). A JSON body is decoded in place (base64 shrinks into the
/// body buffer), so each JSON run first copies the request into a work buffer, as the endpoint copies it from the
/// socket; <see cref="CopyPutRecords500"/> is that copy alone.
/// </summary>
[MemoryDiagnoser]
public class RequestParsingBenchmarks
{
    private const int Records = 500;
    private const int RecordBytes = 1024;

    private byte[] _putRecordsJson = null!;
    private byte[] _putRecordsCbor = null!;
    private byte[] _putRecordJson = null!;
    private byte[] _getRecordsJson = null!;
    private byte[] _work = null!;

    internal struct ParsedRecord
    {
        public string? PartitionKey;
        public ReadOnlyMemory<byte>? Data;
        public string? ExplicitHashKey;
    }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(11);
        var keys = Enumerable.Range(0, Records).Select(_ => random.NextInt64().ToString("x16", System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var data = Enumerable.Range(0, Records).Select(_ =>
        {
            var bytes = new byte[RecordBytes];
            random.NextBytes(bytes);
            return bytes;
        }).ToArray();

        var json = new StringBuilder("{\"StreamName\":\"bench\",\"Records\":[");
        for (var i = 0; i < Records; i++)
            json.Append(i > 0 ? "," : "").Append("{\"Data\":\"").Append(Convert.ToBase64String(data[i])).Append("\",\"PartitionKey\":\"").Append(keys[i]).Append("\"}");
        _putRecordsJson = Encoding.UTF8.GetBytes(json.Append("]}").ToString());

        var cbor = new CborWriter();
        cbor.WriteStartMap(2);
        cbor.WriteTextString("StreamName");
        cbor.WriteTextString("bench");
        cbor.WriteTextString("Records");
        cbor.WriteStartArray(Records);
        for (var i = 0; i < Records; i++)
        {
            cbor.WriteStartMap(2);
            cbor.WriteTextString("Data");
            cbor.WriteByteString(data[i]);
            cbor.WriteTextString("PartitionKey");
            cbor.WriteTextString(keys[i]);
            cbor.WriteEndMap();
        }
        cbor.WriteEndArray();
        cbor.WriteEndMap();
        _putRecordsCbor = cbor.Encode();

        _putRecordJson = Encoding.UTF8.GetBytes($"{{\"StreamName\":\"bench\",\"Data\":\"{Convert.ToBase64String(data[0])}\",\"PartitionKey\":\"{keys[0]}\"}}");
        _getRecordsJson = Encoding.UTF8.GetBytes("{\"ShardIterator\":\"AQEAAAAAAAAAAwAAABXNWwcAAAAAtRoJ1JoBAAD3gS2x8OnHOPtwVHfKjTlZ\",\"Limit\":10000}");
        _work = new byte[_putRecordsJson.Length];
    }

    [Benchmark]
    public int CopyPutRecords500()
    {
        _putRecordsJson.CopyTo(_work, 0);
        return _work[0];
    }

    [Benchmark]
    public int ParsePutRecords500Json()
    {
        _putRecordsJson.CopyTo(_work, 0);
        return ParsePutRecords(_work, _putRecordsJson.Length, WireFormat.Json);
    }

    [Benchmark]
    public int ParsePutRecords500Cbor() => ParsePutRecords(_putRecordsCbor, _putRecordsCbor.Length, WireFormat.Cbor);

    [Benchmark]
    public int ParsePutRecordJson()
    {
        _putRecordJson.CopyTo(_work, 0);
        var r = WireReader.Create(_work, _putRecordJson.Length, WireFormat.Json);
        string? name = null;
        var record = new ParsedRecord();
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("StreamName"u8))
                name = r.ReadString();
            else
                ReadRecordMember(ref r, member, ref record);
        }
        r.ReadRequestEnd();
        return name!.Length + record.Data!.Value.Length;
    }

    [Benchmark]
    public long ParseGetRecordsJson()
    {
        var r = WireReader.Create(_getRecordsJson, _getRecordsJson.Length, WireFormat.Json);
        string? iterator = null;
        long? limit = null;
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("ShardIterator"u8))
                iterator = r.ReadString();
            else if (member.SequenceEqual("Limit"u8))
                limit = r.ReadInteger();
            else
                r.Skip();
        }
        r.ReadRequestEnd();
        return iterator!.Length + limit!.Value;
    }

    private static int ParsePutRecords(byte[] body, int length, WireFormat format)
    {
        string? name = null;
        List<ParsedRecord>? records = null;
        var r = WireReader.Create(body, length, format);
        r.ReadRequestStart();
        while (r.TryReadPropertyName(out var member))
        {
            if (member.SequenceEqual("StreamName"u8))
                name = r.ReadString();
            else if (member.SequenceEqual("Records"u8))
            {
                if (!r.ReadStartArray())
                    continue;
                // As the service does: a list that starts small and grows with the batch.
                records = new List<ParsedRecord>(64);
                while (r.TryReadArrayItem())
                {
                    var record = new ParsedRecord();
                    if (r.ReadStartObject())
                        while (r.TryReadPropertyName(out var field))
                            ReadRecordMember(ref r, field, ref record);
                    records.Add(record);
                }
            }
            else
                r.Skip();
        }
        r.ReadRequestEnd();
        return name!.Length + records!.Count;
    }

    private static void ReadRecordMember(ref WireReader r, ReadOnlySpan<byte> name, ref ParsedRecord record)
    {
        if (name.SequenceEqual("Data"u8))
            record.Data = r.ReadBlob();
        else if (name.SequenceEqual("PartitionKey"u8))
            record.PartitionKey = r.ReadString();
        else if (name.SequenceEqual("ExplicitHashKey"u8))
            record.ExplicitHashKey = r.ReadString();
        else
            r.Skip();
    }
}
