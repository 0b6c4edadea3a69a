using System.Formats.Cbor;
using System.Text;
using BenchmarkDotNet.Attributes;
using Runnel.Core.Wire;
using Runnel.Ingest.Operations;

namespace Runnel.Benchmarks;

/// <summary>
/// The service's own request parsers (<see cref="KinesisDataPlane"/>: read and validate, before any stream lookup).
/// A JSON body is decoded in place (base64 shrinks into the body buffer), so each JSON run first copies the
/// request into a work buffer, as the endpoint copies it from the socket; <see cref="CopyPutRecords500"/> is that
/// copy alone.
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
        var (name, records) = KinesisDataPlane.ParsePutRecords(_work, _putRecordsJson.Length, WireFormat.Json);
        return name.Length + records.Count;
    }

    [Benchmark]
    public int ParsePutRecords500Cbor()
    {
        var (name, records) = KinesisDataPlane.ParsePutRecords(_putRecordsCbor, _putRecordsCbor.Length, WireFormat.Cbor);
        return name.Length + records.Count;
    }

    [Benchmark]
    public int ParsePutRecordJson()
    {
        _putRecordJson.CopyTo(_work, 0);
        var (name, record) = KinesisDataPlane.ParsePutRecord(_work, _putRecordJson.Length, WireFormat.Json);
        return name.Length + record.Data!.Value.Length;
    }

    [Benchmark]
    public long ParseGetRecordsJson()
    {
        var (iterator, limit, _) = KinesisDataPlane.ParseGetRecords(_getRecordsJson, _getRecordsJson.Length, WireFormat.Json);
        return iterator!.Length + limit!.Value;
    }
}
