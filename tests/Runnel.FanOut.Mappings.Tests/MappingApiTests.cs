using System.Text.Json;
using System.Text.Json.Nodes;
using Runnel.TestKit;
using static Runnel.FanOut.Mappings.Tests.KinesisClient;

namespace Runnel.FanOut.Mappings.Tests;

/// <summary>Lambda's event-source-mapping API on the public endpoint: lifecycle, defaults, Lambda's error shape, the AWS CLI.</summary>
[Collection(StandaloneHostCollection.Name)]
public sealed class MappingApiTests(StandaloneHostFixture host)
{
    private const string Path = "/2015-03-31/event-source-mappings/";

    [Fact]
    public async Task Creates_lists_gets_updates_disables_enables_and_deletes()
    {
        var stream = NewName("esm-api");
        var other = NewName("esm-api-dlq");
        await CreateStreamAsync(host.Http, stream);
        await CreateStreamAsync(host.Http, other);
        const string function = "http://127.0.0.1:9/fn";

        var created = await host.LambdaAsync(HttpMethod.Post, Path, new { EventSourceArn = StreamArn(stream), FunctionName = function, StartingPosition = "LATEST" });
        Assert.Equal(202, created.Status);
        var m = created.Body;
        var uuid = m.GetProperty("UUID").GetString()!;
        Assert.True(Guid.TryParse(uuid, out _));
        Assert.Equal("Creating", m.GetProperty("State").GetString());
        Assert.Equal(StreamArn(stream), m.GetProperty("EventSourceArn").GetString());
        Assert.Equal(function, m.GetProperty("FunctionArn").GetString());
        // Lambda's defaults for a Kinesis source.
        Assert.Equal(100, m.GetProperty("BatchSize").GetInt32());
        Assert.Equal(0, m.GetProperty("MaximumBatchingWindowInSeconds").GetInt32());
        Assert.Equal(1, m.GetProperty("ParallelizationFactor").GetInt32());
        Assert.Equal(-1, m.GetProperty("MaximumRetryAttempts").GetInt32());
        Assert.Equal(-1, m.GetProperty("MaximumRecordAgeInSeconds").GetInt32());
        Assert.False(m.GetProperty("BisectBatchOnFunctionError").GetBoolean());
        Assert.Equal("LATEST", m.GetProperty("StartingPosition").GetString());
        Assert.Equal(JsonValueKind.Number, m.GetProperty("LastModified").ValueKind);
        Assert.Equal(0, m.GetProperty("FunctionResponseTypes").GetArrayLength());

        await WaitForStateAsync(uuid, "Enabled");

        var list = await host.LambdaAsync(HttpMethod.Get, Path + "?EventSourceArn=" + Uri.EscapeDataString(StreamArn(stream)));
        Assert.Equal(200, list.Status);
        Assert.Equal(uuid, Assert.Single(list.Body.GetProperty("EventSourceMappings").EnumerateArray()).GetProperty("UUID").GetString());
        var byFunction = await host.LambdaAsync(HttpMethod.Get, Path + "?FunctionName=" + Uri.EscapeDataString(function) + "&EventSourceArn=" + Uri.EscapeDataString(StreamArn(stream)));
        Assert.Single(byFunction.Body.GetProperty("EventSourceMappings").EnumerateArray());

        var updated = await host.LambdaAsync(HttpMethod.Put, Path + uuid, new
        {
            BatchSize = 500,
            MaximumBatchingWindowInSeconds = 5,
            ParallelizationFactor = 4,
            MaximumRetryAttempts = 3,
            MaximumRecordAgeInSeconds = 3600,
            BisectBatchOnFunctionError = true,
            FunctionResponseTypes = new[] { "ReportBatchItemFailures" },
            DestinationConfig = new { OnFailure = new { Destination = StreamArn(other) } },
        });
        Assert.Equal(202, updated.Status);
        Assert.Equal("Updating", updated.Body.GetProperty("State").GetString());
        await WaitForStateAsync(uuid, "Enabled");
        var got = (await host.LambdaAsync(HttpMethod.Get, Path + uuid)).Body;
        Assert.Equal(500, got.GetProperty("BatchSize").GetInt32());
        Assert.Equal(5, got.GetProperty("MaximumBatchingWindowInSeconds").GetInt32());
        Assert.Equal(4, got.GetProperty("ParallelizationFactor").GetInt32());
        Assert.Equal(3, got.GetProperty("MaximumRetryAttempts").GetInt32());
        Assert.Equal(3600, got.GetProperty("MaximumRecordAgeInSeconds").GetInt32());
        Assert.True(got.GetProperty("BisectBatchOnFunctionError").GetBoolean());
        Assert.Equal("ReportBatchItemFailures", got.GetProperty("FunctionResponseTypes")[0].GetString());
        Assert.Equal(StreamArn(other), got.GetProperty("DestinationConfig").GetProperty("OnFailure").GetProperty("Destination").GetString());

        var disabling = await host.LambdaAsync(HttpMethod.Put, Path + uuid, new { Enabled = false });
        Assert.Equal("Disabling", disabling.Body.GetProperty("State").GetString());
        await WaitForStateAsync(uuid, "Disabled");
        var enabling = await host.LambdaAsync(HttpMethod.Put, Path + uuid, new { Enabled = true });
        Assert.Equal("Enabling", enabling.Body.GetProperty("State").GetString());
        await WaitForStateAsync(uuid, "Enabled");

        var deleted = await host.LambdaAsync(HttpMethod.Delete, Path + uuid);
        Assert.Equal(202, deleted.Status);
        Assert.Equal("Deleting", deleted.Body.GetProperty("State").GetString());
        var gone = await host.LambdaAsync(HttpMethod.Get, Path + uuid);
        Assert.Equal(404, gone.Status);
        Assert.Equal("ResourceNotFoundException", gone.ErrorType);
        Assert.Equal("User", gone.Body.GetProperty("Type").GetString());
    }

    [Fact]
    public async Task Pages_through_a_listing_with_markers()
    {
        var stream = NewName("esm-page");
        await CreateStreamAsync(host.Http, stream);
        var created = new HashSet<string>();
        for (var i = 0; i < 5; i++)
        {
            var r = await host.LambdaAsync(HttpMethod.Post, Path, new { EventSourceArn = StreamArn(stream), FunctionName = $"http://127.0.0.1:9/fn{i}", StartingPosition = "TRIM_HORIZON", Enabled = false });
            created.Add(r.Body.GetProperty("UUID").GetString()!);
        }
        var seen = new List<string>();
        string? marker = null;
        var pages = 0;
        do
        {
            var page = await host.LambdaAsync(HttpMethod.Get, $"{Path}?EventSourceArn={Uri.EscapeDataString(StreamArn(stream))}&MaxItems=2" + (marker is null ? "" : "&Marker=" + marker));
            Assert.Equal(200, page.Status);
            seen.AddRange(page.Body.GetProperty("EventSourceMappings").EnumerateArray().Select(m => m.GetProperty("UUID").GetString()!));
            marker = page.Body.TryGetProperty("NextMarker", out var n) ? n.GetString() : null;
            pages++;
        }
        while (marker is not null);
        Assert.Equal(3, pages);
        Assert.Equal(created.Order(), seen.Order());
    }

    [Fact]
    public async Task Refuses_bad_requests_in_Lambdas_error_shape()
    {
        var stream = NewName("esm-bad");
        await CreateStreamAsync(host.Http, stream);
        var arn = StreamArn(stream);

        async Task Refused(object body, string type, int status, string fragment)
        {
            var r = await host.LambdaAsync(HttpMethod.Post, Path, body);
            Assert.Equal(status, r.Status);
            Assert.Equal(type, r.ErrorType);
            Assert.Equal("User", r.Body.GetProperty("Type").GetString());
            Assert.Contains(fragment, r.Message, StringComparison.Ordinal);
        }

        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", BatchSize = 0 }, "InvalidParameterValueException", 400, "batchSize");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", BatchSize = 10_001 }, "InvalidParameterValueException", 400, "batchSize");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", MaximumBatchingWindowInSeconds = 301 }, "InvalidParameterValueException", 400, "maximumBatchingWindowInSeconds");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", ParallelizationFactor = 11 }, "InvalidParameterValueException", 400, "parallelizationFactor");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", MaximumRecordAgeInSeconds = 59 }, "InvalidParameterValueException", 400, "maximumRecordAgeInSeconds");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", MaximumRetryAttempts = -2 }, "InvalidParameterValueException", 400, "maximumRetryAttempts");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "SOMETIME" }, "InvalidParameterValueException", 400, "startingPosition");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "AT_TIMESTAMP" }, "InvalidParameterValueException", 400, "StartingPositionTimestamp");
        await Refused(new { EventSourceArn = arn, FunctionName = "my-function", StartingPosition = "LATEST" }, "InvalidParameterValueException", 400, "URL");
        await Refused(new { EventSourceArn = StreamArn("no-such-" + Guid.NewGuid().ToString("N")), FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST" }, "InvalidParameterValueException", 400, "Stream not found");
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST", DestinationConfig = new { OnFailure = new { Destination = StreamArn("no-such-" + Guid.NewGuid().ToString("N")) } } }, "InvalidParameterValueException", 400, "Stream not found");

        var first = await host.LambdaAsync(HttpMethod.Post, Path, new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "LATEST" });
        Assert.Equal(202, first.Status);
        await Refused(new { EventSourceArn = arn, FunctionName = "http://127.0.0.1:1/fn", StartingPosition = "TRIM_HORIZON" }, "ResourceConflictException", 409, first.Body.GetProperty("UUID").GetString()!);

        var missing = await host.LambdaAsync(HttpMethod.Put, Path + Guid.NewGuid(), new { BatchSize = 10 });
        Assert.Equal(404, missing.Status);
        Assert.Equal("ResourceNotFoundException", missing.ErrorType);
        var deleteMissing = await host.LambdaAsync(HttpMethod.Delete, Path + Guid.NewGuid());
        Assert.Equal(404, deleteMissing.Status);
    }

    [Fact]
    public async Task The_AWS_CLI_creates_lists_gets_and_deletes()
    {
        var stream = NewName("esm-cli");
        await CreateStreamAsync(host.Http, stream);
        var function = "http://127.0.0.1:9/cli-fn";
        var created = await CliAsync("lambda", "create-event-source-mapping", "--event-source-arn", StreamArn(stream), "--function-name", function,
            "--starting-position", "TRIM_HORIZON", "--batch-size", "50", "--maximum-retry-attempts", "2", "--bisect-batch-on-function-error",
            "--function-response-types", "ReportBatchItemFailures", "--no-enabled");
        var uuid = created!["UUID"]!.GetValue<string>();
        Assert.Equal(50, created["BatchSize"]!.GetValue<int>());
        Assert.Equal(function, created["FunctionArn"]!.GetValue<string>());

        var listed = await CliAsync("lambda", "list-event-source-mappings", "--event-source-arn", StreamArn(stream));
        var only = Assert.Single(listed!["EventSourceMappings"]!.AsArray());
        Assert.Equal(uuid, only!["UUID"]!.GetValue<string>());
        Assert.Equal(2, only["MaximumRetryAttempts"]!.GetValue<int>());

        await Wait.UntilAsync(async () => (await CliAsync("lambda", "get-event-source-mapping", "--uuid", uuid))!["State"]!.GetValue<string>() == "Disabled",
            TimeSpan.FromSeconds(30), "the mapping to become Disabled", cancellationToken: TestContext.Current.CancellationToken);
        var updated = await CliAsync("lambda", "update-event-source-mapping", "--uuid", uuid, "--batch-size", "7");
        Assert.Equal(7, updated!["BatchSize"]!.GetValue<int>());
        var deleted = await CliAsync("lambda", "delete-event-source-mapping", "--uuid", uuid);
        Assert.Equal("Deleting", deleted!["State"]!.GetValue<string>());

        var missing = await RunCliAsync("lambda", "get-event-source-mapping", "--uuid", uuid);
        Assert.False(missing.Succeeded);
        Assert.Contains("(ResourceNotFoundException)", missing.StandardError, StringComparison.Ordinal);
        var invalid = await RunCliAsync("lambda", "create-event-source-mapping", "--event-source-arn", StreamArn(stream), "--function-name", function,
            "--starting-position", "LATEST", "--parallelization-factor", "11");
        Assert.False(invalid.Succeeded);
        Assert.Contains("(InvalidParameterValueException)", invalid.StandardError, StringComparison.Ordinal);
    }

    private async Task WaitForStateAsync(string uuid, string state) =>
        await Wait.UntilAsync(async () => (await host.LambdaAsync(HttpMethod.Get, Path + uuid)).Body.GetProperty("State").GetString() == state,
            TimeSpan.FromSeconds(30), $"mapping {uuid} to reach {state}", cancellationToken: TestContext.Current.CancellationToken);

    private Task<CommandResult> RunCliAsync(params string[] arguments) =>
        ExternalCommand.RunAsync(TestServers.AwsCli(), [.. arguments, "--endpoint-url", host.BaseAddress.ToString().TrimEnd('/'), "--output", "json"],
            TimeSpan.FromSeconds(60), CliEnvironment, cancellationToken: TestContext.Current.CancellationToken);

    private async Task<JsonObject?> CliAsync(params string[] arguments)
    {
        var result = await RunCliAsync(arguments);
        Assert.True(result.Succeeded, result.Describe("aws " + string.Join(' ', arguments)));
        var text = result.StandardOutput.Trim();
        return text.Length == 0 ? null : JsonNode.Parse(text)!.AsObject();
    }

    private static readonly Dictionary<string, string?> CliEnvironment = new()
    {
        ["AWS_ACCESS_KEY_ID"] = "AKIDRUNNELTEST",
        ["AWS_SECRET_ACCESS_KEY"] = "runnel-test-secret",
        ["AWS_DEFAULT_REGION"] = "us-east-1",
        ["AWS_REGION"] = "us-east-1",
        ["AWS_PAGER"] = "",
        ["AWS_CONFIG_FILE"] = "/dev/null",
        ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        ["AWS_EC2_METADATA_DISABLED"] = "true",
        ["AWS_CLI_AUTO_PROMPT"] = "off",
        ["AWS_MAX_ATTEMPTS"] = "1",
        ["AWS_PROFILE"] = null,
        ["AWS_SESSION_TOKEN"] = null,
    };
}
