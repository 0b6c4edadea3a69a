using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Runnel.Analytics.Applications;
using Runnel.Analytics.Runner;
using Runnel.Analytics.Sql;

namespace Runnel.Benchmarks;

/// <summary>
/// A SQL application's engine on the path the runner takes for every record (decode the record into a row with the
/// input schema's mappings, insert it into the compiled code, collect what the pumps emit), with the records already
/// in memory: no network, no store. The application is a one-minute tumbling window (STEP over ROWTIME) computing
/// COUNT and AVG grouped by 100 sensors, over ~200-byte JSON records whose arrival times span ten minutes, so ten
/// windows of 100 rows close during a run. <see cref="BareJsonParse"/> is the ceiling: a tokenizer pass over the same
/// records that builds nothing. Each benchmark processes <see cref="Records"/> records; times are per record.
/// </summary>
[MemoryDiagnoser]
public class AnalyticsEngineBenchmarks
{
    public const int Records = 100_000;
    private const int Sensors = 100;

    private const string Code = """
        CREATE OR REPLACE STREAM "SENSOR_MINUTES" (sensor_id VARCHAR(16), readings BIGINT, avg_temperature DOUBLE, avg_humidity DOUBLE);
        CREATE OR REPLACE PUMP "MINUTES_PUMP" AS INSERT INTO "SENSOR_MINUTES"
          SELECT STREAM sensor_id, COUNT(*), AVG(temperature), AVG(humidity)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY sensor_id, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
        """;

    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private byte[][] _records = null!;
    private long[] _arrivals = null!;
    private InputModel _input = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5);
        var start = new DateTimeOffset(T0).ToUnixTimeMilliseconds();
        _records = new byte[Records][];
        _arrivals = new long[Records];
        for (var i = 0; i < Records; i++)
        {
            _arrivals[i] = start + (long)i * 600_000 / Records;
            _records[i] = JsonSerializer.SerializeToUtf8Bytes(new
            {
                sensorId = $"sensor-{random.Next(Sensors):D3}",
                eventTime = DateTimeOffset.FromUnixTimeMilliseconds(_arrivals[i]).ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture),
                temperature = Math.Round(15 + random.NextDouble() * 15, 2),
                humidity = Math.Round(20 + random.NextDouble() * 60, 1),
                status = "OK",
                site = $"plant-{random.Next(9)}",
                firmware = "v2.14.3",
                battery = random.Next(100),
                gateway = $"gw-{random.Next(40):D2}.plant.example",
            });
        }
        _input = ApplicationModel.ReadInput(JsonNode.Parse("""
            {
              "NamePrefix": "SOURCE_SQL_STREAM",
              "KinesisStreamsInput": { "ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/sensors" },
              "InputSchema": {
                "RecordFormat": { "RecordFormatType": "JSON", "MappingParameters": { "JSONMappingParameters": { "RecordRowPath": "$" } } },
                "RecordColumns": [
                  { "Name": "SENSOR_ID", "Mapping": "$.sensorId", "SqlType": "VARCHAR(16)" },
                  { "Name": "TEMPERATURE", "Mapping": "$.temperature", "SqlType": "DOUBLE" },
                  { "Name": "HUMIDITY", "Mapping": "$.humidity", "SqlType": "DOUBLE" }
                ]
              }
            }
            """)!);
        Console.WriteLine($"// {Records} records of {_records.Average(r => r.Length):0} bytes on average");
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public long BareJsonParse()
    {
        long tokens = 0;
        foreach (var record in _records)
        {
            var reader = new Utf8JsonReader(record);
            while (reader.Read())
                tokens++;
        }
        return tokens;
    }

    /// <summary>A parse that builds what a reader can query (a pooled document per record), for comparison.</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public long JsonDocumentParse()
    {
        long found = 0;
        foreach (var record in _records)
        {
            using var document = JsonDocument.Parse(record);
            if (document.RootElement.TryGetProperty("sensorId", out _))
                found++;
        }
        return found;
    }

    /// <summary>The input schema's mappings alone: record to row.</summary>
    [Benchmark(OperationsPerInvoke = Records)]
    public long DecodeRows()
    {
        var decoder = new RecordDecoder(_input.Schema);
        var rows = new List<object?[]>(1);
        long decoded = 0;
        for (var i = 0; i < _records.Length; i++)
        {
            rows.Clear();
            decoder.Decode(_records[i], _arrivals[i], rows);
            decoded += rows.Count;
        }
        return decoded;
    }

    [Benchmark(OperationsPerInvoke = Records)]
    public long TumblingCountAvgBy100Keys()
    {
        var program = SqlProgram.Compile(Code, _input.SourceSchemas);
        long emitted = 0;
        program.Emitted = (_, _) => emitted++;
        var source = _input.InAppStreamNames[0];
        program.SetLanes(source, [0]);
        var decoder = new RecordDecoder(_input.Schema);
        var rows = new List<object?[]>(1);
        for (var i = 0; i < _records.Length; i++)
        {
            rows.Clear();
            decoder.Decode(_records[i], _arrivals[i], rows);
            foreach (var row in rows)
                program.Insert(source, 0, row);
        }
        program.AdvanceRowtime(T0.AddMinutes(11));
        if (emitted != 10 * Sensors || decoder.Failed != 0)
            throw new InvalidOperationException($"Expected {10 * Sensors} window rows, got {emitted} ({decoder.Failed} records failed to decode).");
        return emitted;
    }
}
