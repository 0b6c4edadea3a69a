using System.Text.Json;
using Npgsql;
using Runnel.TestKit;

namespace Runnel.Analytics.Tests;

/// <summary>
/// Allowed lateness through the whole path on Standalone: records put over the Kinesis API with event times out of
/// order, an application created over the Analytics API, its window rows upserted into a PostgreSQL table and its
/// late rows delivered from <c>error_stream</c> into a data stream.
/// </summary>
public sealed class LatenessEndToEndTests
{
    private static readonly DateTime T0 = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    // A 5 s watermark delay and 30 s of lateness: minute 0 fires once the watermark passes 60 s and is kept until it
    // passes 90 s; a row of it after that is LATE_ROW.
    private const string Code = """
        ALTER STREAM "SOURCE_SQL_STREAM_001" ADD WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND ALLOWED LATENESS INTERVAL '30' SECOND;
        CREATE OR REPLACE STREAM "TRUCK_WINDOWS" (truck_id VARCHAR(8), window_start TIMESTAMP, events BIGINT);
        CREATE OR REPLACE PUMP "WINDOW_PUMP" AS INSERT INTO "TRUCK_WINDOWS"
          SELECT STREAM truck_id, TUMBLE_START(event_time, INTERVAL '1' MINUTE), COUNT(*)
          FROM "SOURCE_SQL_STREAM_001"
          GROUP BY truck_id, TUMBLE(event_time, INTERVAL '1' MINUTE);
        """;

    [Fact]
    public async Task Late_rows_within_lateness_update_the_table_and_later_ones_reach_the_error_stream_output()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await AnalyticsHost.StartFreshAsync("analytics_lateness");
        var input = AnalyticsHost.NewName("trucks");
        var errors = AnalyticsHost.NewName("late");
        await host.CreateStreamAsync(input, 1);
        await host.CreateStreamAsync(errors, 1);
        var application = AnalyticsHost.NewName("lateness");
        await host.AnalyticsOkAsync("CreateApplication", CreateRequest(application, input, errors));
        await host.AnalyticsOkAsync("StartApplication", Trucks.StartRequest(application));

        // Watermark 61 s: minute 0 fires with t1's two rows.
        await host.PutAsync(input, [Truck("t1", 10), Truck("t1", 20), Truck("t1", 66)]);
        await WaitForTableAsync(host.TableDatabase, [("t1", 2)], "minute 0 fired with two rows");

        // Within lateness: t1's row updates its window row in place, t2 gets a row of its own.
        await host.PutAsync(input, [Truck("t1", 30), Truck("t2", 40)]);
        await WaitForTableAsync(host.TableDatabase, [("t1", 3), ("t2", 1)], "minute 0 updated by the late rows");

        // Watermark 95 s passes 60 + 30: minute 0 is gone, the row at 45 s is too late and minute 1 does not fire yet.
        await host.PutAsync(input, [Truck("t1", 100), Truck("t3", 45)]);
        var late = Assert.Single(await Wait.ForAsync(async () => await host.ReadAllAsync(errors) is { Count: >= 1 } r ? r : null,
            TimeSpan.FromSeconds(90), "the late row in the error stream", cancellationToken: ct));
        Assert.Equal(("ERROR", "LATE_ROW"), (late.GetProperty("ERROR_LEVEL").GetString(), late.GetProperty("ERROR_NAME").GetString()));
        Assert.Contains("allowed lateness of 30 s", late.GetProperty("MESSAGE").GetString(), StringComparison.Ordinal);
        Assert.Contains("t3", System.Text.Encoding.UTF8.GetString(Convert.FromHexString(late.GetProperty("DATA_ROW").GetString()!)), StringComparison.Ordinal);

        // The late row changed nothing: the table still holds minute 0 as the in-lateness rows left it.
        Assert.Equal([("t1", T0, 3L), ("t2", T0, 1L)], await TableAsync(host.TableDatabase));
        Assert.Equal("RUNNING", await host.StatusAsync(application));
    }

    private static (string, string) Truck(string id, int seconds) =>
        (id, JsonSerializer.Serialize(new { truckId = id, eventTime = T0.AddSeconds(seconds).ToString("yyyy-MM-dd HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture) }));

    private static object CreateRequest(string application, string input, string errors) => new
    {
        ApplicationName = application,
        Inputs = new[]
        {
            new
            {
                NamePrefix = "SOURCE_SQL_STREAM",
                KinesisStreamsInput = new { ResourceARN = AnalyticsHost.StreamArn(input), RoleARN = "arn:aws:iam::000000000000:role/analytics" },
                InputSchema = new
                {
                    RecordFormat = new { RecordFormatType = "JSON", MappingParameters = new { JSONMappingParameters = new { RecordRowPath = "$" } } },
                    RecordEncoding = "UTF-8",
                    RecordColumns = new[]
                    {
                        new { Name = "TRUCK_ID", Mapping = "$.truckId", SqlType = "VARCHAR(8)" },
                        new { Name = "EVENT_TIME", Mapping = "$.eventTime", SqlType = "TIMESTAMP" },
                    },
                },
            },
        },
        Outputs = new object[]
        {
            new
            {
                Name = "TRUCK_WINDOWS",
                RunnelPostgresTableOutput = new { Database = AnalyticsHost.Database, TableName = "truck_windows", KeyColumns = new[] { "TRUCK_ID", "WINDOW_START" } },
                DestinationSchema = new { RecordFormatType = "JSON" },
            },
            new
            {
                Name = "error_stream",
                KinesisStreamsOutput = new { ResourceARN = AnalyticsHost.StreamArn(errors), RoleARN = "arn:aws:iam::000000000000:role/analytics" },
                DestinationSchema = new { RecordFormatType = "JSON" },
            },
        },
        ApplicationCode = Code,
    };

    private static Task WaitForTableAsync(string connectionString, (string Truck, long Events)[] expected, string what) =>
        Wait.UntilAsync(async () => (await TableAsync(connectionString)).SequenceEqual(expected.Select(e => (e.Truck, T0, e.Events))),
            TimeSpan.FromSeconds(90), what, cancellationToken: TestContext.Current.CancellationToken);

    private static async Task<List<(string Truck, DateTime Start, long Events)>> TableAsync(string connectionString)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.OpenAsync(ct);
        await using var exists = new NpgsqlCommand("SELECT to_regclass('truck_windows') IS NOT NULL", conn);
        if (!(bool)(await exists.ExecuteScalarAsync(ct))!)
            return [];
        await using var cmd = new NpgsqlCommand("SELECT truck_id, window_start, events FROM truck_windows ORDER BY truck_id, window_start", conn);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<(string, DateTime, long)>();
        while (await reader.ReadAsync(ct))
            rows.Add((reader.GetString(0), DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc), reader.GetInt64(2)));
        return rows;
    }
}
