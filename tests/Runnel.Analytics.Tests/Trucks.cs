using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace Runnel.Analytics.Tests;

/// <summary>
/// The trucks of the product notes: GPS events keyed by truck id with an event time the test controls, and the
/// application that computes per truck and minute the count and average speed into a PostgreSQL table.
/// </summary>
public static class Trucks
{
    public static readonly DateTime T0 = new(2026, 1, 1, 8, 0, 0, DateTimeKind.Utc);

    public const string Code = """
        CREATE OR REPLACE STREAM "TRUCK_MINUTES" (truck_id VARCHAR(8), minute_start TIMESTAMP, events BIGINT, avg_speed DOUBLE);
        CREATE OR REPLACE PUMP "MINUTES_PUMP" AS INSERT INTO "TRUCK_MINUTES"
          SELECT STREAM truck_id, FLOOR(event_time TO MINUTE), COUNT(*), AVG(speed)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY truck_id, FLOOR(event_time TO MINUTE);
        """;

    public sealed record Event(string Truck, DateTime At, double Speed)
    {
        public string Json => JsonSerializer.Serialize(new { truckId = Truck, eventTime = At.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture), speed = Speed });
    }

    /// <summary>
    /// 100 trucks over <paramref name="minutes"/> minutes, 1 to 5 events per truck and minute, in time order; then one
    /// event per truck two minutes after the last, which moves every shard's event time past the last real minute.
    /// </summary>
    public static (List<Event> Events, List<Event> Closing) Generate(int minutes, int seed)
    {
        var random = new Random(seed);
        var events = new List<Event>();
        for (var truck = 0; truck < 100; truck++)
        {
            for (var minute = 0; minute < minutes; minute++)
            {
                var count = random.Next(1, 6);
                for (var i = 0; i < count; i++)
                    events.Add(new Event($"truck{truck:D3}", T0.AddMinutes(minute).AddMilliseconds(random.Next(60_000)), Math.Round(random.NextDouble() * 120, 2)));
            }
        }
        var closing = Enumerable.Range(0, 100).Select(t => new Event($"truck{t:D3}", T0.AddMinutes(minutes + 1).AddMilliseconds(t), 0)).ToList();
        return ([.. events.OrderBy(e => e.At)], closing);
    }

    public sealed record Minute(string Truck, DateTime Start, long Events, double AverageSpeed)
    {
        public override string ToString() => $"{Truck} {Start:HH:mm} {Events} {AverageSpeed:0.000000}";
    }

    /// <summary>What the table must hold: every (truck, minute) of the events, computed here.</summary>
    public static List<Minute> Reference(IEnumerable<Event> events) =>
        [.. events.GroupBy(e => (e.Truck, Start: new DateTime(e.At.Ticks - e.At.Ticks % TimeSpan.TicksPerMinute, DateTimeKind.Utc)))
            .Select(g => new Minute(g.Key.Truck, g.Key.Start, g.Count(), g.Average(e => e.Speed)))
            .OrderBy(m => m.Truck, StringComparer.Ordinal).ThenBy(m => m.Start)];

    public static async Task<List<Minute>> TableAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(TestContext.Current.CancellationToken);
        await using var exists = new NpgsqlCommand("SELECT to_regclass('truck_minutes') IS NOT NULL", conn);
        if (!(bool)(await exists.ExecuteScalarAsync(TestContext.Current.CancellationToken))!)
            return [];
        await using var cmd = new NpgsqlCommand("SELECT truck_id, minute_start, events, avg_speed FROM truck_minutes ORDER BY truck_id, minute_start", conn);
        await using var reader = await cmd.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var rows = new List<Minute>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
            rows.Add(new Minute(reader.GetString(0), DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc), reader.GetInt64(2), reader.GetDouble(3)));
        return rows;
    }

    public static object CreateRequest(string application, string stream) => new
    {
        ApplicationName = application,
        ApplicationDescription = "Per truck and minute: events and average speed",
        Inputs = new[]
        {
            new
            {
                NamePrefix = "SOURCE_SQL_STREAM",
                KinesisStreamsInput = new { ResourceARN = AnalyticsHost.StreamArn(stream), RoleARN = "arn:aws:iam::000000000000:role/analytics" },
                InputParallelism = new { Count = 1 },
                InputSchema = new
                {
                    RecordFormat = new { RecordFormatType = "JSON", MappingParameters = new { JSONMappingParameters = new { RecordRowPath = "$" } } },
                    RecordEncoding = "UTF-8",
                    RecordColumns = new[]
                    {
                        new { Name = "TRUCK_ID", Mapping = "$.truckId", SqlType = "VARCHAR(8)" },
                        new { Name = "EVENT_TIME", Mapping = "$.eventTime", SqlType = "TIMESTAMP" },
                        new { Name = "SPEED", Mapping = "$.speed", SqlType = "DOUBLE" },
                    },
                },
            },
        },
        Outputs = new[]
        {
            new
            {
                Name = "TRUCK_MINUTES",
                RunnelPostgresTableOutput = new { Database = AnalyticsHost.Database, TableName = "truck_minutes", KeyColumns = new[] { "TRUCK_ID", "MINUTE_START" } },
                DestinationSchema = new { RecordFormatType = "JSON" },
            },
        },
        ApplicationCode = Code,
    };

    public static object StartRequest(string application) => new
    {
        ApplicationName = application,
        InputConfigurations = new[] { new { Id = "1.1", InputStartingPositionConfiguration = new { InputStartingPosition = "TRIM_HORIZON" } } },
    };

    /// <summary>Equal up to the last bits of a double average (the table stores what the application computed).</summary>
    public static void AssertSame(List<Minute> expected, List<Minute> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal((expected[i].Truck, expected[i].Start, expected[i].Events), (actual[i].Truck, actual[i].Start, actual[i].Events));
            Assert.True(Math.Abs(expected[i].AverageSpeed - actual[i].AverageSpeed) < 1e-9, $"{expected[i]} != {actual[i]}");
        }
    }
}
