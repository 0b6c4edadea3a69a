using System.Text;
using System.Text.Json;
using Runnel.Analytics.Applications;

namespace Runnel.Analytics.Tests;

/// <summary>DiscoverInputSchema: records sampled from a Runnel stream through <c>aws kinesisanalytics discover-input-schema</c>.</summary>
public sealed class DiscoverInputSchemaTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    private AnalyticsHost Host => fixture.Host;

    private static string[] Discover(string stream, string position) =>
    [
        "discover-input-schema", "--resource-arn", AnalyticsHost.StreamArn(stream), "--role-arn", "arn:aws:iam::000000000000:role/analytics",
        "--input-starting-position-configuration", $"InputStartingPosition={position}",
    ];

    private static List<(string Name, string? Mapping, string Type)> Columns(JsonElement answer) =>
    [
        .. answer.GetProperty("InputSchema").GetProperty("RecordColumns").EnumerateArray().Select(c => (
            c.GetProperty("Name").GetString()!,
            c.TryGetProperty("Mapping", out var m) ? m.GetString() : null,
            c.GetProperty("SqlType").GetString()!)),
    ];

    [Fact]
    public async Task The_getting_started_tickers_are_discovered_as_AWS_names_and_types_them()
    {
        var stream = AnalyticsHost.NewName("discover");
        await Host.CreateStreamAsync(stream, 2);
        string[] records =
        [
            """{"TICKER_SYMBOL":"QXZ","SECTOR":"HEALTHCARE","CHANGE":-0.05,"PRICE":84.51}""",
            """{"TICKER_SYMBOL":"AMZN","SECTOR":"TECHNOLOGY","CHANGE":1,"PRICE":107}""",
            """{"TICKER_SYMBOL":"WMT","SECTOR":"RETAIL","CHANGE":-0.5,"PRICE":22.1}""",
        ];
        await Host.PutAsync(stream, records.Select((r, i) => ($"k{i}", r)));

        var answer = await Host.CliOkAsync(Discover(stream, "TRIM_HORIZON"));

        Assert.Equal(
            [("TICKER_SYMBOL", "$.TICKER_SYMBOL", "VARCHAR(4)"), ("SECTOR", "$.SECTOR", "VARCHAR(16)"), ("CHANGE", "$.CHANGE", "REAL"), ("PRICE", "$.PRICE", "REAL")],
            Columns(answer));
        var format = answer.GetProperty("InputSchema").GetProperty("RecordFormat");
        Assert.Equal("JSON", format.GetProperty("RecordFormatType").GetString());
        Assert.Equal("$", format.GetProperty("MappingParameters").GetProperty("JSONMappingParameters").GetProperty("RecordRowPath").GetString());
        Assert.Equal("UTF-8", answer.GetProperty("InputSchema").GetProperty("RecordEncoding").GetString());
        // Two shards: the sample holds every record, in some order of shards.
        Assert.Equal(records.Order(), answer.GetProperty("RawInputRecords").EnumerateArray().Select(r => r.GetString()!).Order());
        var parsed = answer.GetProperty("ParsedInputRecords").EnumerateArray().Select(r => string.Join('|', r.EnumerateArray().Select(v => v.GetString()))).Order();
        Assert.Equal(["AMZN|TECHNOLOGY|1|107", "QXZ|HEALTHCARE|-0.05|84.51", "WMT|RETAIL|-0.5|22.1"], parsed);
    }

    [Fact]
    public async Task Nested_fields_get_paths_reserved_names_get_COL_and_an_empty_stream_is_UnableToDetectSchema()
    {
        var stream = AnalyticsHost.NewName("nested");
        await Host.CreateStreamAsync(stream, 1);
        var empty = await Host.CliAsync(Discover(stream, "TRIM_HORIZON"));
        Assert.False(empty.Succeeded);
        Assert.Contains("UnableToDetectSchemaException", empty.StandardError, StringComparison.Ordinal);

        await Host.PutAsync(stream,
        [
            ("a", """{"truck":{"id":7,"at":"2026-01-01T00:00:00.250Z"},"speed":55.5,"ok":true,"user":"ann","big":5000000000}"""),
            ("b", """{"truck":{"id":8,"at":"2026-01-01T00:00:01Z"},"speed":60,"ok":false,"user":"bob","big":1}"""),
        ]);
        var answer = await Host.CliOkAsync(Discover(stream, "TRIM_HORIZON"));
        Assert.Equal(
        [
            ("id", "$.truck.id", "INTEGER"), ("at", "$.truck.at", "TIMESTAMP"), ("speed", "$.speed", "REAL"), ("ok", "$.ok", "BOOLEAN"),
            ("COL_user", "$.user", "VARCHAR(4)"), ("big", "$.big", "BIGINT"),
        ], Columns(answer));
    }

    [Fact]
    public void Delimited_text_is_discovered_as_CSV_columns_COL_1_and_up()
    {
        var schema = SchemaDiscovery.Infer([.. new[] { "AMZN,10,1.5\n", "WMT,200,-3\n" }.Select(Encoding.UTF8.GetBytes)]);
        Assert.Equal("CSV", schema.Format);
        Assert.Equal([new("COL_1", null, "VARCHAR(4)"), new("COL_2", null, "INTEGER"), new DiscoveredColumn("COL_3", null, "REAL")], schema.Columns);
        Assert.Equal(["WMT", "200", "-3"], schema.Parsed[1]);
    }

    [Theory]
    [InlineData("USER", 0, "COL_USER")]
    [InlineData("USER@DOMAIN", 0, "COL_USERDOMAIN")]
    [InlineData("@@", 0, "COL_0")]
    [InlineData("9lives", 3, "COL_9lives")]
    [InlineData("ticker_symbol", 1, "ticker_symbol")]
    public void Column_names_follow_AWS_discovery_renaming(string source, int position, string expected) =>
        Assert.Equal(expected, SchemaDiscovery.ColumnName(source, position));

    [Fact]
    public void Records_that_are_neither_JSON_nor_delimited_are_UnableToDetectSchema()
    {
        var e = Assert.Throws<Runnel.Core.Errors.KinesisException>(() => SchemaDiscovery.Infer([Encoding.UTF8.GetBytes("just a line"), Encoding.UTF8.GetBytes("another")]));
        Assert.Equal("UnableToDetectSchemaException", e.Type);
    }

    [Fact]
    public async Task An_S3_object_is_discovered_line_by_line_and_a_missing_one_is_not_found()
    {
        var bucket = await AnalyticsHost.PutObjectAsync("trades/2026.csv", "AMZN,107.5,2026-01-01 10:00:00\nWMT,22.1,2026-01-01 10:00:05\nQXZ,8,2026-01-01 10:00:09\n");
        string[] Discover(string key) =>
        [
            "discover-input-schema", "--s3-configuration",
            $"RoleARN=arn:aws:iam::000000000000:role/analytics,BucketARN=arn:aws:s3:::{bucket},FileKey={key}",
        ];

        var answer = await Host.CliOkAsync(Discover("trades/2026.csv"));

        Assert.Equal("CSV", answer.GetProperty("InputSchema").GetProperty("RecordFormat").GetProperty("RecordFormatType").GetString());
        Assert.Equal(["COL_1", "COL_2", "COL_3"], Columns(answer).Select(c => c.Name));
        Assert.Equal("VARCHAR(4)", Columns(answer)[0].Type);
        Assert.Equal(["AMZN,107.5,2026-01-01 10:00:00", "WMT,22.1,2026-01-01 10:00:05", "QXZ,8,2026-01-01 10:00:09"],
            answer.GetProperty("RawInputRecords").EnumerateArray().Select(r => r.GetString()));
        var missing = await Host.CliAsync(Discover("trades/none.csv"));
        Assert.False(missing.Succeeded);
        Assert.Contains("ResourceNotFoundException", missing.StandardError, StringComparison.Ordinal);
    }
}
