using System.Text.Json;

namespace Runnel.Analytics.Tests;

/// <summary>The control plane's answers and refusals: AWS shapes, error types, and nothing half-created.</summary>
public sealed class ApplicationApiTests(StandaloneFixture fixture) : IClassFixture<StandaloneFixture>
{
    private AnalyticsHost Host => fixture.Host;

    private static object Request(string application, string stream, string code) => new
    {
        ApplicationName = application,
        Inputs = new[]
        {
            new
            {
                NamePrefix = "SOURCE_SQL_STREAM",
                KinesisStreamsInput = new { ResourceARN = AnalyticsHost.StreamArn(stream), RoleARN = "arn:aws:iam::000000000000:role/r" },
                InputSchema = new
                {
                    RecordFormat = new { RecordFormatType = "CSV", MappingParameters = new { CSVMappingParameters = new { RecordRowDelimiter = "\n", RecordColumnDelimiter = "," } } },
                    RecordColumns = new[]
                    {
                        new { Name = "TICKER_SYMBOL", SqlType = "VARCHAR(4)" },
                        new { Name = "PRICE", SqlType = "DOUBLE" },
                    },
                },
            },
        },
        ApplicationCode = code,
    };

    private const string GoodCode = """
        CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), price DOUBLE);
        CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
          SELECT STREAM ticker_symbol, price FROM "SOURCE_SQL_STREAM_001" WHERE price > 10;
        """;

    private async Task AssertAbsentAsync(string application)
    {
        var describe = await Host.AnalyticsAsync("DescribeApplication", new { ApplicationName = application });
        Assert.Equal((400, "ResourceNotFoundException"), (describe.Status, describe.ErrorType));
        var list = await Host.AnalyticsOkAsync("ListApplications", new { Limit = 50 });
        Assert.DoesNotContain(list.GetProperty("ApplicationSummaries").EnumerateArray(), s => s.GetProperty("ApplicationName").GetString() == application);
    }

    [Theory]
    [InlineData("CREATE OR REPLACE STREAM S (a DOUBLE);\nCREATE OR REPLACE PUMP P AS INSERT INTO S\n  SELECT STREAM volume FROM \"SOURCE_SQL_STREAM_001\";", "line 3, column 17", "Column VOLUME not found")]
    [InlineData("CREATE OR REPLACE STREAM S (a DOUBLE);\nCREATE OR REPLACE PUMP P AS INSERT INTO S SELECT STREAM price FROM \"SOURCE_SQL_STREAM_002\";", "line 2, column 68", "Stream SOURCE_SQL_STREAM_002 does not exist")]
    [InlineData("CREATE OR REPLACE STREAM S (a DOUBLE);\nCREATE OR REPLACE PUMP P AS INSERT INTO S SELECT STREAM price FROM;", "line 2, column 67", "Expected a stream name")]
    public async Task Bad_code_answers_CodeValidationException_with_line_and_column_and_creates_nothing(string code, string position, string reason)
    {
        var stream = AnalyticsHost.NewName("in");
        await Host.CreateStreamAsync(stream, 1);
        var application = AnalyticsHost.NewName("bad-sql");

        var reply = await Host.AnalyticsAsync("CreateApplication", Request(application, stream, code));

        Assert.Equal((400, "CodeValidationException"), (reply.Status, reply.ErrorType));
        Assert.Equal("CodeValidationException", reply.Body.GetProperty("__type").GetString());
        Assert.Contains(position, reply.Message, StringComparison.Ordinal);
        Assert.Contains(reason, reply.Message, StringComparison.Ordinal);
        await AssertAbsentAsync(application);
    }

    [Fact]
    public async Task A_missing_input_stream_is_refused_and_creates_nothing()
    {
        var application = AnalyticsHost.NewName("no-input");
        var reply = await Host.AnalyticsAsync("CreateApplication", Request(application, AnalyticsHost.NewName("absent"), GoodCode));
        Assert.Equal((400, "InvalidArgumentException"), (reply.Status, reply.ErrorType));
        Assert.Contains("does not exist", reply.Message, StringComparison.Ordinal);
        await AssertAbsentAsync(application);
    }

    [Fact]
    public async Task Describe_answers_in_the_services_shape_and_changes_are_checked_against_the_version()
    {
        var stream = AnalyticsHost.NewName("in");
        var output = AnalyticsHost.NewName("out");
        await Host.CreateStreamAsync(stream, 1);
        await Host.CreateStreamAsync(output, 1);
        var application = AnalyticsHost.NewName("versions");
        var created = await Host.AnalyticsOkAsync("CreateApplication", Request(application, stream, GoodCode));
        Assert.Equal("READY", created.GetProperty("ApplicationSummary").GetProperty("ApplicationStatus").GetString());
        Assert.Equal($"arn:aws:kinesisanalytics:us-east-1:000000000000:application/{application}",
            created.GetProperty("ApplicationSummary").GetProperty("ApplicationARN").GetString());

        var detail = (await Host.AnalyticsOkAsync("DescribeApplication", new { ApplicationName = application })).GetProperty("ApplicationDetail");
        Assert.Equal(1, detail.GetProperty("ApplicationVersionId").GetInt64());
        var input = detail.GetProperty("InputDescriptions")[0];
        Assert.Equal("1.1", input.GetProperty("InputId").GetString());
        Assert.Equal(["SOURCE_SQL_STREAM_001"], input.GetProperty("InAppStreamNames").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(AnalyticsHost.StreamArn(stream), input.GetProperty("KinesisStreamsInputDescription").GetProperty("ResourceARN").GetString());
        Assert.Equal(2, input.GetProperty("InputSchema").GetProperty("RecordColumns").GetArrayLength());
        Assert.Equal(GoodCode, detail.GetProperty("ApplicationCode").GetString());

        // A stale version changes nothing.
        var stale = await Host.AnalyticsAsync("UpdateApplication", new
        {
            ApplicationName = application,
            CurrentApplicationVersionId = 7,
            ApplicationUpdate = new { ApplicationCodeUpdate = GoodCode.Replace("> 10", "> 20", StringComparison.Ordinal) },
        });
        Assert.Equal((400, "ConcurrentModificationException"), (stale.Status, stale.ErrorType));
        // So does bad code at the right version.
        var bad = await Host.AnalyticsAsync("UpdateApplication", new
        {
            ApplicationName = application,
            CurrentApplicationVersionId = 1,
            ApplicationUpdate = new { ApplicationCodeUpdate = GoodCode.Replace("price > 10", "nope > 10", StringComparison.Ordinal) },
        });
        Assert.Equal((400, "CodeValidationException"), (bad.Status, bad.ErrorType));
        detail = (await Host.AnalyticsOkAsync("DescribeApplication", new { ApplicationName = application })).GetProperty("ApplicationDetail");
        Assert.Equal((1L, GoodCode), (detail.GetProperty("ApplicationVersionId").GetInt64(), detail.GetProperty("ApplicationCode").GetString()));

        await Host.AnalyticsOkAsync("AddApplicationOutput", new
        {
            ApplicationName = application,
            CurrentApplicationVersionId = 1,
            Output = new
            {
                Name = "DESTINATION_SQL_STREAM",
                KinesisStreamsOutput = new { ResourceARN = AnalyticsHost.StreamArn(output), RoleARN = "arn:aws:iam::000000000000:role/r" },
                DestinationSchema = new { RecordFormatType = "JSON" },
            },
        });
        detail = (await Host.AnalyticsOkAsync("DescribeApplication", new { ApplicationName = application })).GetProperty("ApplicationDetail");
        Assert.Equal(2, detail.GetProperty("ApplicationVersionId").GetInt64());
        var described = detail.GetProperty("OutputDescriptions")[0];
        Assert.Equal("1.1", described.GetProperty("OutputId").GetString());
        Assert.Equal(AnalyticsHost.StreamArn(output), described.GetProperty("KinesisStreamsOutputDescription").GetProperty("ResourceARN").GetString());

        var wrongId = await Host.AnalyticsAsync("DeleteApplicationOutput", new { ApplicationName = application, CurrentApplicationVersionId = 2, OutputId = "9.9" });
        Assert.Equal((400, "ResourceNotFoundException"), (wrongId.Status, wrongId.ErrorType));
        await Host.AnalyticsOkAsync("DeleteApplicationOutput", new { ApplicationName = application, CurrentApplicationVersionId = 2, OutputId = "1.1" });

        await Host.AnalyticsOkAsync("TagResource", new { ResourceARN = detail.GetProperty("ApplicationARN").GetString(), Tags = new[] { new { Key = "team", Value = "fleet" } } });
        var tags = await Host.AnalyticsOkAsync("ListTagsForResource", new { ResourceARN = detail.GetProperty("ApplicationARN").GetString() });
        Assert.Equal("fleet", tags.GetProperty("Tags")[0].GetProperty("Value").GetString());

        // DeleteApplication needs the creation time DescribeApplication reported.
        var created2 = detail.GetProperty("CreateTimestamp").GetDouble();
        var wrongTime = await Host.AnalyticsAsync("DeleteApplication", new { ApplicationName = application, CreateTimestamp = created2 - 5 });
        Assert.Equal((400, "InvalidArgumentException"), (wrongTime.Status, wrongTime.ErrorType));
        await Host.AnalyticsOkAsync("DeleteApplication", new { ApplicationName = application, CreateTimestamp = created2 });
        await AssertAbsentAsync(application);
    }

    [Fact]
    public async Task Starting_twice_is_refused_and_a_stopped_application_is_ready_again()
    {
        var stream = AnalyticsHost.NewName("in");
        await Host.CreateStreamAsync(stream, 1);
        var application = AnalyticsHost.NewName("lifecycle");
        await Host.AnalyticsOkAsync("CreateApplication", Request(application, stream, GoodCode));
        var wrongInput = await Host.AnalyticsAsync("StartApplication", new { ApplicationName = application, InputConfigurations = new[] { new { Id = "2.1", InputStartingPositionConfiguration = new { InputStartingPosition = "NOW" } } } });
        Assert.Equal((400, "InvalidArgumentException"), (wrongInput.Status, wrongInput.ErrorType));

        await Host.AnalyticsOkAsync("StartApplication", new { ApplicationName = application, InputConfigurations = new[] { new { Id = "1.1", InputStartingPositionConfiguration = new { InputStartingPosition = "NOW" } } } });
        await Host.WaitRunningAsync(application);
        var again = await Host.AnalyticsAsync("StartApplication", new { ApplicationName = application, InputConfigurations = Array.Empty<object>() });
        Assert.Equal((400, "ResourceInUseException"), (again.Status, again.ErrorType));

        await Host.AnalyticsOkAsync("StopApplication", new { ApplicationName = application });
        await TestKit.Wait.UntilAsync(async () => await Host.StatusAsync(application) == "READY", TimeSpan.FromSeconds(60), "the application to be READY", cancellationToken: TestContext.Current.CancellationToken);
        var detail = (await Host.AnalyticsOkAsync("DescribeApplication", new { ApplicationName = application })).GetProperty("ApplicationDetail");
        Assert.Equal("NOW", detail.GetProperty("InputDescriptions")[0].GetProperty("InputStartingPositionConfiguration").GetProperty("InputStartingPosition").GetString());
    }

    [Fact]
    public async Task Malformed_requests_and_unknown_operations_answer_AWS_errors()
    {
        var unknown = await Host.AnalyticsAsync("DiscoverAnything", new { });
        Assert.Equal((400, "UnknownOperationException"), (unknown.Status, unknown.ErrorType));
        var noName = await Host.AnalyticsAsync("CreateApplication", new { ApplicationName = "bad name!" });
        Assert.Equal((400, "InvalidArgumentException"), (noName.Status, noName.ErrorType));
        var missing = await Host.AnalyticsAsync("DescribeApplication", new { ApplicationName = "never-created" });
        Assert.Equal((400, "ResourceNotFoundException"), (missing.Status, missing.ErrorType));
        Assert.Equal(JsonValueKind.String, missing.Body.GetProperty("message").ValueKind);
    }
}
