using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.Analytics.Tests;

/// <summary>
/// Samples of AWS's Kinesis Analytics SQL documentation, their SQL unchanged, created and run with
/// <c>aws kinesisanalytics</c>; results land in a Runnel data stream (KinesisStreamsOutput).
/// </summary>
public sealed class AwsCliSampleTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    private AnalyticsHost Host => fixture.Host;

    private Task<JsonElement> CliAsync(params string[] arguments) => Host.CliOkAsync(arguments);

    private static string Inputs(string stream) => JsonSerializer.Serialize(new[]
    {
        new
        {
            NamePrefix = "SOURCE_SQL_STREAM",
            KinesisStreamsInput = new { ResourceARN = AnalyticsHost.StreamArn(stream), RoleARN = "arn:aws:iam::000000000000:role/analytics" },
            InputSchema = new
            {
                RecordFormat = new { RecordFormatType = "JSON", MappingParameters = new { JSONMappingParameters = new { RecordRowPath = "$" } } },
                RecordEncoding = "UTF-8",
                RecordColumns = new[]
                {
                    new { Name = "TICKER_SYMBOL", Mapping = "$.TICKER_SYMBOL", SqlType = "VARCHAR(4)" },
                    new { Name = "SECTOR", Mapping = "$.SECTOR", SqlType = "VARCHAR(16)" },
                    new { Name = "CHANGE", Mapping = "$.CHANGE", SqlType = "REAL" },
                    new { Name = "PRICE", Mapping = "$.PRICE", SqlType = "REAL" },
                },
            },
        },
    });

    private static string Outputs(string stream) => JsonSerializer.Serialize(new[]
    {
        new
        {
            Name = "DESTINATION_SQL_STREAM",
            KinesisStreamsOutput = new { ResourceARN = AnalyticsHost.StreamArn(stream), RoleARN = "arn:aws:iam::000000000000:role/analytics" },
            DestinationSchema = new { RecordFormatType = "JSON" },
        },
    });

    private static string Tick(string ticker, string sector, double change, double price) =>
        JsonSerializer.Serialize(new { TICKER_SYMBOL = ticker, SECTOR = sector, CHANGE = change, PRICE = price });

    /// <summary>
    /// Creates, checks, starts the application and returns its output stream's name. With <paramref name="beforeCode"/>
    /// the application is created without code, <paramref name="beforeCode"/> runs (it adds what the code needs, as a
    /// reference table) and the code comes with UpdateApplication, the order of AWS's reference-data example.
    /// </summary>
    private async Task<(string Application, string Input, string Output)> StartAsync(string code, Func<string, Task>? beforeCode = null)
    {
        var input = AnalyticsHost.NewName("tickers");
        var output = AnalyticsHost.NewName("results");
        await Host.CreateStreamAsync(input, 1);
        await Host.CreateStreamAsync(output, 1);
        var application = AnalyticsHost.NewName("sample");
        var created = await CliAsync(["create-application", "--application-name", application, "--inputs", Inputs(input),
            "--outputs", Outputs(output), .. beforeCode is null ? new[] { "--application-code", code } : []]);
        Assert.Equal("READY", created.GetProperty("ApplicationSummary").GetProperty("ApplicationStatus").GetString());
        if (beforeCode is not null)
        {
            await beforeCode(application);
            var version = (await CliAsync("describe-application", "--application-name", application)).GetProperty("ApplicationDetail").GetProperty("ApplicationVersionId").GetInt64();
            await CliAsync("update-application", "--application-name", application, "--current-application-version-id",
                version.ToString(System.Globalization.CultureInfo.InvariantCulture), "--application-update", JsonSerializer.Serialize(new { ApplicationCodeUpdate = code }));
        }
        var detail = (await CliAsync("describe-application", "--application-name", application)).GetProperty("ApplicationDetail");
        Assert.Equal(code, detail.GetProperty("ApplicationCode").GetString());
        Assert.Equal("1.1", detail.GetProperty("InputDescriptions")[0].GetProperty("InputId").GetString());
        await CliAsync("start-application", "--application-name", application, "--input-configurations",
            """[{"Id":"1.1","InputStartingPositionConfiguration":{"InputStartingPosition":"NOW"}}]""");
        await Host.WaitRunningAsync(application);
        return (application, input, output);
    }

    private async Task StopAndDeleteAsync(string application)
    {
        await CliAsync("stop-application", "--application-name", application);
        await Wait.UntilAsync(async () => await Host.StatusAsync(application) == "READY", TimeSpan.FromSeconds(60), $"{application} to stop", cancellationToken: TestContext.Current.CancellationToken);
        var detail = (await CliAsync("describe-application", "--application-name", application)).GetProperty("ApplicationDetail");
        await CliAsync("delete-application", "--application-name", application, "--create-timestamp", detail.GetProperty("CreateTimestamp").GetString()!);
        var list = await CliAsync("list-applications");
        Assert.DoesNotContain(list.GetProperty("ApplicationSummaries").EnumerateArray(), a => a.GetProperty("ApplicationName").GetString() == application);
    }

    [Fact]
    public async Task The_continuous_filter_sample_writes_only_big_changes()
    {
        var (application, input, output) = await StartAsync(Samples.ContinuousFilter);
        await Host.PutAsync(input,
        [
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 101)),
            ("BBB", Tick("BBB", "ENERGY", 20, 100)),
            ("CCC", Tick("CCC", "RETAIL", -30, 90)),
            ("DDD", Tick("DDD", "FINANCIAL", 0.5, 50)),
        ]);

        var rows = await Wait.ForAsync(async () => await Host.ReadAllAsync(output) is { Count: >= 2 } r ? r : null,
            TimeSpan.FromSeconds(60), "two filtered rows in the output stream", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal([("BBB", 100.0), ("CCC", 90.0)],
            rows.Select(r => (r.GetProperty("TICKER_SYMBOL").GetString(), r.GetProperty("PRICE").GetDouble())));
        await StopAndDeleteAsync(application);
    }

    [Fact]
    public async Task The_tumbling_count_sample_counts_each_ticker_per_minute_of_ROWTIME()
    {
        var (application, input, output) = await StartAsync(Samples.TumblingCount);
        // One PutRecords call: every record gets the same arrival time, so all fall in one minute.
        await Host.PutAsync(input,
        [
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 10)),
            ("BBB", Tick("BBB", "ENERGY", 1, 10)),
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 11)),
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 12)),
            ("BBB", Tick("BBB", "ENERGY", 1, 11)),
        ]);

        // The minute closes by the clock once every shard is caught up: up to a minute and a second later.
        var rows = await Wait.ForAsync(async () => await Host.ReadAllAsync(output) is { Count: >= 2 } r ? r : null,
            TimeSpan.FromSeconds(150), "one count per ticker in the output stream", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal([("AAA", 3L), ("BBB", 2L)],
            rows.Select(r => (r.GetProperty("ticker_symbol").GetString(), r.GetProperty("symbol_count").GetInt64())).OrderBy(r => r.Item1));
        var window = rows[0].GetProperty("ingest_time").GetString()!;
        Assert.EndsWith(":00.000", window, StringComparison.Ordinal);
        Assert.Equal(window, rows[0].GetProperty("APPROXIMATE_ARRIVAL_TIME").GetString());
        await StopAndDeleteAsync(application);
    }

    [Fact]
    public async Task The_sliding_window_sample_emits_a_row_per_record_with_the_tickers_last_minute()
    {
        var (application, input, output) = await StartAsync(Samples.SlidingMinMaxAvg);
        // One PutRecords call: one arrival time, so each row's minute holds its ticker's rows put before it.
        await Host.PutAsync(input,
        [
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 10)),
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 20)),
            ("BBB", Tick("BBB", "ENERGY", 1, 5)),
            ("AAA", Tick("AAA", "TECHNOLOGY", 1, 30)),
        ]);

        var rows = await Wait.ForAsync(async () => await Host.ReadAllAsync(output) is { Count: >= 4 } r ? r : null,
            TimeSpan.FromSeconds(60), "a row per input record in the output stream", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal([("AAA", 10.0, 10.0, 10.0), ("AAA", 10.0, 20.0, 15.0), ("BBB", 5.0, 5.0, 5.0), ("AAA", 10.0, 30.0, 20.0)],
            rows.Select(r => (r.GetProperty("TICKER_SYMBOL").GetString(), r.GetProperty("MIN_PRICE").GetDouble(),
                r.GetProperty("MAX_PRICE").GetDouble(), r.GetProperty("AVG_PRICE").GetDouble())));
        await StopAndDeleteAsync(application);
    }

    [Fact]
    public async Task The_reference_data_sample_joins_company_names_loaded_from_S3()
    {
        var bucket = await AnalyticsHost.PutObjectAsync("TickerReference.csv", Samples.TickerReferenceCsv);
        var reference = JsonSerializer.Serialize(new
        {
            TableName = "CompanyName",
            S3ReferenceDataSource = new { BucketARN = $"arn:aws:s3:::{bucket}", FileKey = "TickerReference.csv", ReferenceRoleARN = "arn:aws:iam::000000000000:role/analytics" },
            ReferenceSchema = new
            {
                RecordFormat = new { RecordFormatType = "CSV", MappingParameters = new { CSVMappingParameters = new { RecordRowDelimiter = "\n", RecordColumnDelimiter = "," } } },
                RecordEncoding = "UTF-8",
                RecordColumns = new[] { new { Name = "Ticker", SqlType = "VARCHAR(4)" }, new { Name = "Company", SqlType = "VARCHAR(15)" } },
            },
        });

        var (application, input, output) = await StartAsync(Samples.ReferenceJoin, async name =>
        {
            var stale = await Host.CliAsync("add-application-reference-data-source", "--application-name", name,
                "--current-application-version-id", "7", "--reference-data-source", reference);
            Assert.False(stale.Succeeded);
            Assert.Contains("ConcurrentModificationException", stale.StandardError);
            await CliAsync("add-application-reference-data-source", "--application-name", name, "--current-application-version-id", "1",
                "--reference-data-source", reference);
            var described = (await CliAsync("describe-application", "--application-name", name)).GetProperty("ApplicationDetail");
            var source = described.GetProperty("ReferenceDataSourceDescriptions")[0];
            Assert.Equal("CompanyName", source.GetProperty("TableName").GetString());
            Assert.Equal("TickerReference.csv", source.GetProperty("S3ReferenceDataSourceDescription").GetProperty("FileKey").GetString());
            Assert.Equal(2, described.GetProperty("ApplicationVersionId").GetInt64());
        });
        await Host.PutAsync(input, [("AMZN", Tick("AMZN", "RETAIL", 1.5, 120)), ("QXZ", Tick("QXZ", "ENERGY", -2, 40))]);

        var rows = await Wait.ForAsync(async () => await Host.ReadAllAsync(output) is { Count: >= 2 } r ? r : null,
            TimeSpan.FromSeconds(60), "two joined rows in the output stream", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal([("AMZN", "Amazon", 120.0), ("QXZ", null, 40.0)],
            rows.Select(r => (r.GetProperty("TICKER_SYMBOL").GetString(), r.GetProperty("Company").GetString(), r.GetProperty("PRICE").GetDouble())));

        // The code still joins the table, so deleting its source is refused and changes nothing.
        var version = (await CliAsync("describe-application", "--application-name", application)).GetProperty("ApplicationDetail").GetProperty("ApplicationVersionId").GetInt64();
        var refused = await Host.CliAsync("delete-application-reference-data-source", "--application-name", application,
            "--current-application-version-id", version.ToString(System.Globalization.CultureInfo.InvariantCulture), "--reference-id", "1.1");
        Assert.False(refused.Succeeded);
        Assert.Contains("CodeValidationException", refused.StandardError);
        Assert.Contains("Reference table CompanyName does not exist", refused.StandardError);
        await StopAndDeleteAsync(application);
    }

    [Fact]
    public async Task Rows_a_pump_cannot_evaluate_reach_an_output_named_error_stream()
    {
        const string code = """
            CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), ratio DOUBLE);
            CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
              SELECT STREAM ticker_symbol, price / CAST(change AS INTEGER) FROM "SOURCE_SQL_STREAM_001";
            """;
        var input = AnalyticsHost.NewName("tickers");
        var output = AnalyticsHost.NewName("results");
        var errors = AnalyticsHost.NewName("errors");
        foreach (var stream in new[] { input, output, errors })
            await Host.CreateStreamAsync(stream, 1);
        var application = AnalyticsHost.NewName("errors");
        var outputs = JsonSerializer.Serialize(new[] { ("DESTINATION_SQL_STREAM", output), ("error_stream", errors) }.Select(o => new
        {
            Name = o.Item1,
            KinesisStreamsOutput = new { ResourceARN = AnalyticsHost.StreamArn(o.Item2), RoleARN = "arn:aws:iam::000000000000:role/analytics" },
            DestinationSchema = new { RecordFormatType = "JSON" },
        }));
        await CliAsync("create-application", "--application-name", application, "--inputs", Inputs(input), "--outputs", outputs, "--application-code", code);
        await CliAsync("start-application", "--application-name", application, "--input-configurations",
            """[{"Id":"1.1","InputStartingPositionConfiguration":{"InputStartingPosition":"TRIM_HORIZON"}}]""");
        await Host.PutAsync(input,
        [
            ("AAA", Tick("AAA", "TECHNOLOGY", 2, 10)),
            ("BBB", Tick("BBB", "ENERGY", 0, 10)),
            ("CCC", Tick("CCC", "RETAIL", 5, 10)),
        ]);

        var rows = await Wait.ForAsync(async () => await Host.ReadAllAsync(output) is { Count: >= 2 } r ? r : null,
            TimeSpan.FromSeconds(60), "two ratios in the output stream", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal([("AAA", 5.0), ("CCC", 2.0)], rows.Select(r => (r.GetProperty("TICKER_SYMBOL").GetString(), r.GetProperty("RATIO").GetDouble())));
        var error = Assert.Single(await Wait.ForAsync(async () => await Host.ReadAllAsync(errors) is { Count: >= 1 } r ? r : null,
            TimeSpan.FromSeconds(60), "the failed row in the error stream", cancellationToken: TestContext.Current.CancellationToken));
        Assert.Equal(("ERROR", "EVALUATION_ERROR", "Division by zero.", "STREAM_PUMP"), (error.GetProperty("ERROR_LEVEL").GetString(),
            error.GetProperty("ERROR_NAME").GetString(), error.GetProperty("MESSAGE").GetString(), error.GetProperty("PUMP_NAME").GetString()));
        Assert.Equal("BBB,ENERGY,0,10", System.Text.Encoding.UTF8.GetString(Convert.FromHexString(error.GetProperty("DATA_ROW").GetString()!)));
        await StopAndDeleteAsync(application);
    }
}
