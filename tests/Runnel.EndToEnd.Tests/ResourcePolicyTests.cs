using System.Text.Json.Nodes;
using Npgsql;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>The secured Standalone on a PostgreSQL metadata store of its own.</summary>
public sealed class PostgresSecuredStandaloneFixture : SecuredStandaloneFixture
{
    private PostgresDatabase? _metadata;

    public string MetadataConnectionString => _metadata?.ConnectionString ?? throw new InvalidOperationException("No database yet.");

    protected override async Task<IReadOnlyList<string>> MoreArgumentsAsync(CancellationToken ct)
    {
        _metadata = await PostgresDatabase.CreateAsync("policies", ct);
        return ["--Metadata:Provider=Postgres", $"--ConnectionStrings:Metadata={_metadata.ConnectionString}"];
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_metadata is not null)
            await _metadata.DisposeAsync();
    }
}

/// <summary>
/// Stream and consumer resource policies (PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy), weighed with
/// the caller's identity policy as AWS does within one account.
/// </summary>
public sealed class ResourcePolicyTests(PostgresSecuredStandaloneFixture fixture) : IClassFixture<PostgresSecuredStandaloneFixture>
{
    private const string Account = "000000000000";

    private static string StreamArn(string stream) => $"arn:aws:kinesis:us-east-1:{Account}:stream/{stream}";

    private static string UserArn(string user) => $"arn:aws:iam::{Account}:user/{user}";

    private async Task<string> CreateStreamWithRecordAsync(string prefix)
    {
        var stream = Names.Stream(prefix);
        var admin = new AwsCli(fixture.Endpoint);
        await admin.JsonAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1");
        await admin.JsonAsync("kinesis", "wait", "stream-exists", "--stream-name", stream);
        await admin.JsonAsync("kinesis", "put-record", "--stream-name", stream, "--partition-key", "k", "--data", "cG9saWN5");
        return stream;
    }

    private static JsonObject PutPolicy(string arn, string policy) => new() { ["ResourceARN"] = arn, ["Policy"] = policy };

    private static async Task<JsonArray> ReadWithCliAsync(AwsCli cli, string stream)
    {
        var iterator = await cli.JsonAsync("kinesis", "get-shard-iterator", "--stream-name", stream,
            "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON");
        var read = await cli.JsonAsync("kinesis", "get-records", "--shard-iterator", iterator!["ShardIterator"]!.GetValue<string>());
        return read!["Records"]!.AsArray();
    }

    [Fact]
    public async Task A_stream_policy_naming_a_key_lets_it_read_without_any_identity_policy()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = await CreateStreamWithRecordAsync("policy-read");
        var user = $"reader-{Guid.NewGuid():N}"[..20];
        var (id, secret) = await fixture.CreateKeyAsync(user, policy: null, ct);
        var reader = new AwsCli(fixture.Endpoint, id, secret);
        var before = await reader.FailsWithAsync("AccessDeniedException", "kinesis", "get-shard-iterator", "--stream-name", stream,
            "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON");
        Assert.Contains("because no identity-based policy allows the kinesis:GetShardIterator action", before, StringComparison.Ordinal);

        using var admin = new KinesisJsonClient(fixture.Endpoint);
        var policy = $$"""
            {"Version":"2012-10-17","Statement":[{"Sid":"reader","Effect":"Allow","Principal":{"AWS":"{{UserArn(user)}}"},
             "Action":["kinesis:GetShardIterator","kinesis:GetRecords"],"Resource":"{{StreamArn(stream)}}"}]}
            """;
        Assert.Empty(await admin.CallAsync("PutResourcePolicy", PutPolicy(StreamArn(stream), policy), ct));
        var got = await admin.CallAsync("GetResourcePolicy", new JsonObject { ["ResourceARN"] = StreamArn(stream) }, ct);
        Assert.Equal(policy, got["Policy"]!.GetValue<string>());

        var records = await ReadWithCliAsync(reader, stream);
        Assert.Equal("cG9saWN5", Assert.Single(records)!["Data"]!.GetValue<string>());
        // Only what the statement names: no puts, and not for another user's key.
        await reader.FailsWithAsync("AccessDeniedException", "kinesis", "put-record", "--stream-name", stream, "--partition-key", "k", "--data", "eA==");
        var (otherId, otherSecret) = await fixture.CreateKeyAsync(user + "x", policy: null, ct);
        await new AwsCli(fixture.Endpoint, otherId, otherSecret).FailsWithAsync("AccessDeniedException", "kinesis", "get-shard-iterator",
            "--stream-name", stream, "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON");

        Assert.Empty(await admin.CallAsync("DeleteResourcePolicy", new JsonObject { ["ResourceARN"] = StreamArn(stream) }, ct));
        await reader.FailsWithAsync("AccessDeniedException", "kinesis", "get-shard-iterator", "--stream-name", stream,
            "--shard-id", "shardId-000000000000", "--shard-iterator-type", "TRIM_HORIZON");
    }

    [Fact]
    public async Task An_explicit_deny_in_a_stream_policy_beats_an_identity_allow()
    {
        var ct = TestContext.Current.CancellationToken;
        var (denied, open) = (await CreateStreamWithRecordAsync("policy-deny"), await CreateStreamWithRecordAsync("policy-open"));
        var user = $"writer-{Guid.NewGuid():N}"[..20];
        var (id, secret) = await fixture.CreateKeyAsync(user, """{"Statement":{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}}""", ct);
        var writer = new AwsCli(fixture.Endpoint, id, secret);
        await writer.JsonAsync("kinesis", "put-record", "--stream-name", denied, "--partition-key", "k", "--data", "eA==");

        using var admin = new KinesisJsonClient(fixture.Endpoint);
        await admin.CallAsync("PutResourcePolicy", PutPolicy(StreamArn(denied), $$"""
            {"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":["{{UserArn(user)}}"]},
             "Action":"kinesis:Put*","Resource":"{{StreamArn(denied)}}"}]}
            """), ct);
        var refused = await writer.FailsWithAsync("AccessDeniedException", "kinesis", "put-record", "--stream-name", denied, "--partition-key", "k", "--data", "eA==");
        Assert.Contains($"User: {UserArn(user)} is not authorized to perform: kinesis:PutRecord on resource: {StreamArn(denied)} with an explicit deny in a resource-based policy",
            refused, StringComparison.Ordinal);
        // The deny covers this stream, these actions and this principal only.
        await writer.JsonAsync("kinesis", "put-record", "--stream-name", open, "--partition-key", "k", "--data", "eA==");
        Assert.Equal(2, (await ReadWithCliAsync(writer, denied)).Count);
        await new AwsCli(fixture.Endpoint).JsonAsync("kinesis", "put-record", "--stream-name", denied, "--partition-key", "k", "--data", "eA==");

        // "*" denies every caller, administrators included; the REST producer route is held to the same policy.
        await admin.CallAsync("PutResourcePolicy", PutPolicy(StreamArn(denied), $$"""
            {"Statement":[{"Effect":"Deny","Principal":"*","Action":"kinesis:PutRecords","Resource":"{{StreamArn(denied)}}"}]}
            """), ct);
        var all = await Assert.ThrowsAsync<KinesisCallException>(() => admin.PutRecordsAsync(denied, [("k", [1])], ct));
        Assert.Equal("AccessDeniedException", all.Type);
        using var rest = TestCredentials.SignedClient(fixture.Endpoint);
        using var restAnswer = await rest.PostAsync($"/v1/streams/{denied}/records",
            new StringContent("""{"partitionKey":"k","value":1}""", System.Text.Encoding.UTF8, "application/json"), ct);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, restAnswer.StatusCode);
        Assert.Contains("AccessDeniedException", await restAnswer.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        Assert.Single(await admin.PutRecordsAsync(open, [("k", [1])], ct), r => r.Succeeded);
    }

    [Fact]
    public async Task Resource_policy_calls_answer_aws_errors_and_the_policy_goes_with_its_stream()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = await CreateStreamWithRecordAsync("policy-errors");
        var arn = StreamArn(stream);
        using var admin = new KinesisJsonClient(fixture.Endpoint);
        async Task<KinesisCallException> FailsAsync(string operation, JsonObject body) =>
            await Assert.ThrowsAsync<KinesisCallException>(() => admin.CallAsync(operation, body, ct));
        var allowAll = $$"""{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::{{Account}}:root"},"Action":"kinesis:*","Resource":"{{arn}}"}]}""";

        Assert.Equal("{}", (await admin.CallAsync("GetResourcePolicy", new JsonObject { ["ResourceARN"] = arn }, ct))["Policy"]!.GetValue<string>());
        var missing = await FailsAsync("PutResourcePolicy", PutPolicy(StreamArn(stream + "-none"), allowAll));
        Assert.Equal(("ResourceNotFoundException", 400), (missing.Type, missing.Status));
        Assert.Equal($"400 ResourceNotFoundException: Stream {stream}-none under account {Account} not found.", missing.Message);
        Assert.Equal("ResourceNotFoundException", (await FailsAsync("DeleteResourcePolicy", new JsonObject { ["ResourceARN"] = arn })).Type);
        var badArn = await FailsAsync("GetResourcePolicy", new JsonObject { ["ResourceARN"] = "arn:aws:s3:::bucket" });
        Assert.Equal("ValidationException", badArn.Type);
        Assert.Contains("at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression pattern", badArn.Message, StringComparison.Ordinal);
        Assert.Equal("ValidationException", (await FailsAsync("PutResourcePolicy", new JsonObject { ["ResourceARN"] = arn })).Type);
        foreach (var malformed in (string[])[
            "not json",
            """{"Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"*"}]}""",
            $$"""{"Statement":[{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kinesis:*","Resource":"{{arn}}"}]}""",
            """{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Resource":"ARN","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}""".Replace("ARN", arn, StringComparison.Ordinal),
            $$"""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kinesis:*","Resource":"{{StreamArn("elsewhere")}}"}]}"""])
        {
            var refused = await FailsAsync("PutResourcePolicy", PutPolicy(arn, malformed));
            Assert.True(refused is { Type: "InvalidArgumentException", Status: 400 }, $"{malformed}: {refused.Message}");
        }

        // A consumer has a policy of its own.
        var consumer = await admin.CallAsync("RegisterStreamConsumer", new JsonObject { ["StreamARN"] = arn, ["ConsumerName"] = "policy-consumer" }, ct);
        var consumerArn = consumer["Consumer"]!["ConsumerARN"]!.GetValue<string>();
        var consumerPolicy = $$"""{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kinesis:SubscribeToShard","Resource":"{{consumerArn}}"}]}""";
        await admin.CallAsync("PutResourcePolicy", PutPolicy(consumerArn, consumerPolicy), ct);
        Assert.Equal(consumerPolicy, (await admin.CallAsync("GetResourcePolicy", new JsonObject { ["ResourceARN"] = consumerArn }, ct))["Policy"]!.GetValue<string>());
        Assert.Equal("ResourceNotFoundException", (await FailsAsync("GetResourcePolicy", new JsonObject { ["ResourceARN"] = consumerArn + "0" })).Type);

        // Deleting the stream deletes its policies: none is left in the store, and a new stream of that name has none.
        await admin.CallAsync("PutResourcePolicy", PutPolicy(arn, allowAll), ct);
        Assert.Equal(2, await PolicyRowsAsync(arn, ct));
        await admin.CallAsync("DeleteStream", new JsonObject { ["StreamName"] = stream, ["EnforceConsumerDeletion"] = true }, ct);
        await Wait.UntilAsync(async () => await PolicyRowsAsync(arn, ct) == 0, TimeSpan.FromSeconds(60), "the stream's policies deleted with it", cancellationToken: ct);
        await Wait.UntilAsync(async () =>
        {
            try
            {
                await admin.CreateStreamAsync(stream, 1, ct);
                return true;
            }
            catch (KinesisCallException e) when (e.Type == "ResourceInUseException")
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "the stream created again", cancellationToken: ct);
        await admin.WaitActiveAsync(stream, ct);
        Assert.Equal("{}", (await admin.CallAsync("GetResourcePolicy", new JsonObject { ["ResourceARN"] = arn }, ct))["Policy"]!.GetValue<string>());
    }

    [Fact]
    public async Task Aws_sdk_for_javascript_v3_puts_gets_and_deletes_a_stream_policy()
    {
        var ct = TestContext.Current.CancellationToken;
        var stream = await CreateStreamWithRecordAsync("policy-js");
        var user = $"jsreader-{Guid.NewGuid():N}"[..20];
        var (id, secret) = await fixture.CreateKeyAsync(user, policy: null, ct);
        await JavaScriptSdkTests.RunAsync(fixture.Endpoint, () => fixture.Host.Output, "resource-policy.test.mjs", new Dictionary<string, string?>
        {
            ["RUNNEL_ACCESS_KEY_ID"] = TestCredentials.AccessKeyId,
            ["RUNNEL_SECRET_ACCESS_KEY"] = TestCredentials.SecretAccessKey,
            ["RUNNEL_READER_KEY_ID"] = id,
            ["RUNNEL_READER_SECRET"] = secret,
            ["RUNNEL_READER_ARN"] = UserArn(user),
            ["RUNNEL_STREAM"] = stream,
        });
    }

    /// <summary>Rows of resource_policies about the stream <paramref name="streamArn"/> or its consumers, read from PostgreSQL.</summary>
    private async Task<long> PolicyRowsAsync(string streamArn, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(fixture.MetadataConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("""SELECT count(*) FROM resource_policies WHERE "ResourceArn" = @arn OR "ResourceArn" LIKE @consumers""", connection);
        command.Parameters.AddWithValue("arn", streamArn);
        command.Parameters.AddWithValue("consumers", streamArn + "/consumer/%");
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }
}
