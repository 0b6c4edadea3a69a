using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// Standalone in its own process with <c>Security:Authentication=SigV4</c> and a bootstrap administrator key, as an
/// operator would expose it: every key below is created through the key management API with that key.
/// </summary>
public class SecuredStandaloneFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = new("secured");
    private ProcessHost? _host;

    public ProcessHost Host => _host ?? throw new InvalidOperationException("Standalone did not start.");

    public Uri Endpoint => Host.BaseAddress;

    public string DataDirectory => _data.Path;

    /// <summary>Signed with the bootstrap administrator key.</summary>
    public HttpClient Admin { get; private set; } = null!;

    /// <summary>Settings beyond the security ones (e.g. another metadata store).</summary>
    protected virtual Task<IReadOnlyList<string>> MoreArgumentsAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<string>>([]);

    public async ValueTask InitializeAsync()
    {
        var more = await MoreArgumentsAsync(TestContext.Current.CancellationToken);
        var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
        _host = await ProcessHost.StartAsync(new ProcessHostOptions(
            "secured-standalone", RepositoryPaths.ServiceAssembly("Runnel.Standalone"), address,
            [
                $"--urls={address}",
                $"--Runnel:DataDirectory={_data.Path}",
                "--Security:Authentication=SigV4",
                $"--Security:BootstrapAccessKeyId={TestCredentials.AccessKeyId}",
                $"--Security:BootstrapSecretAccessKey={TestCredentials.SecretAccessKey}",
                .. more,
            ])
        {
            WorkingDirectory = _data.Path,
            Environment = new Dictionary<string, string?> { ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning" },
        }, TestContext.Current.CancellationToken);
        Admin = TestCredentials.SignedClient(Endpoint);
    }

    /// <summary>Creates a key through the API (as the administrator) and returns its id and secret.</summary>
    public async Task<(string Id, string Secret)> CreateKeyAsync(string userName, string? policy, CancellationToken ct)
    {
        var body = new JsonObject { ["UserName"] = userName };
        if (policy is not null)
            body["PolicyDocument"] = JsonNode.Parse(policy);
        using var response = await Admin.PostAsync("/v1/access-keys", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var key = JsonNode.Parse(text)!["AccessKey"]!;
        return (key["AccessKeyId"]!.GetValue<string>(), key["SecretAccessKey"]!.GetValue<string>());
    }

    public virtual async ValueTask DisposeAsync()
    {
        Admin?.Dispose();
        if (_host is not null)
            await _host.DisposeAsync();
        _data.Dispose();
    }
}

public sealed class AuthenticationTests(SecuredStandaloneFixture fixture) : IClassFixture<SecuredStandaloneFixture>
{
    private static string PutRecordOnlyOn(string stream) => $$"""
        {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"arn:aws:kinesis:us-east-1:000000000000:stream/{{stream}}"}]}
        """;

    [Fact]
    public async Task Unsigned_requests_are_refused_on_every_route_but_health()
    {
        var ct = TestContext.Current.CancellationToken;
        using var http = new HttpClient { BaseAddress = fixture.Endpoint };
        using var kinesis = new HttpRequestMessage(HttpMethod.Post, "/") { Content = new StringContent("{}", Encoding.UTF8, "application/x-amz-json-1.1") };
        kinesis.Headers.Add("X-Amz-Target", "Kinesis_20131202.ListStreams");
        await AssertRefusedAsync(await http.SendAsync(kinesis, ct), "MissingAuthenticationTokenException", "Missing Authentication Token");
        await AssertRefusedAsync(await http.PostAsync("/v1/streams/any/records", new StringContent("""{"partitionKey":"k","value":1}""", Encoding.UTF8, "application/json"), ct),
            "MissingAuthenticationTokenException", "Missing Authentication Token");
        foreach (var path in (string[])["/2015-03-31/event-source-mappings/", "/metrics", "/v1/ingest/status", "/v1/fanout/status", "/v1/streams/any/hot-keys", "/v1/access-keys"])
            await AssertRefusedAsync(await http.GetAsync(path, ct), "MissingAuthenticationTokenException", "Missing Authentication Token");
        using var health = await http.GetAsync("/health/live", ct);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        // A header that is not a complete signature is IncompleteSignatureException, with AWS's wording.
        using var incomplete = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        incomplete.Headers.TryAddWithoutValidation("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDRUNNELTEST/20260101/us-east-1/kinesis/aws4_request");
        await AssertRefusedAsync(await http.SendAsync(incomplete, ct), "IncompleteSignatureException",
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
            + "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            + "Authorization=AWS4-HMAC-SHA256 Credential=AKIDRUNNELTEST/20260101/us-east-1/kinesis/aws4_request");
    }

    [Fact]
    public async Task Aws_cli_works_with_a_created_key_and_fails_with_a_wrong_or_unknown_one()
    {
        var ct = TestContext.Current.CancellationToken;
        var (id, secret) = await fixture.CreateKeyAsync("cli-user", """{"Statement":{"Effect":"Allow","Action":["kinesis:*"],"Resource":"*"}}""", ct);
        var stream = Names.Stream("auth-cli");
        var aws = new AwsCli(fixture.Endpoint, id, secret);
        await aws.JsonAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1");
        await aws.JsonAsync("kinesis", "wait", "stream-exists", "--stream-name", stream);
        var put = await aws.JsonAsync("kinesis", "put-record", "--stream-name", stream, "--partition-key", "k", "--data", "aGVsbG8=");
        Assert.NotNull(put!["SequenceNumber"]);

        var wrong = await new AwsCli(fixture.Endpoint, id, secret + "x").FailsWithAsync("InvalidSignatureException", "kinesis", "list-streams");
        Assert.Contains("The request signature we calculated does not match the signature you provided.", wrong, StringComparison.Ordinal);
        var unknown = await new AwsCli(fixture.Endpoint, "AKIANOSUCHKEY0000000", secret).FailsWithAsync("UnrecognizedClientException", "kinesis", "list-streams");
        Assert.Contains("The security token included in the request is invalid.", unknown, StringComparison.Ordinal);

        // A deleted key stops working at once on the process that deleted it.
        using var deleted = await fixture.Admin.DeleteAsync($"/v1/access-keys/{id}", ct);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        await aws.FailsWithAsync("UnrecognizedClientException", "kinesis", "list-streams");
    }

    [Fact]
    public async Task A_policy_allowing_PutRecord_on_one_stream_refuses_everything_else_with_AccessDenied()
    {
        var ct = TestContext.Current.CancellationToken;
        var (allowed, other) = (Names.Stream("auth-one"), Names.Stream("auth-other"));
        var admin = new AwsCli(fixture.Endpoint);
        foreach (var stream in new[] { allowed, other })
        {
            await admin.JsonAsync("kinesis", "create-stream", "--stream-name", stream, "--shard-count", "1");
            await admin.JsonAsync("kinesis", "wait", "stream-exists", "--stream-name", stream);
        }
        var (id, secret) = await fixture.CreateKeyAsync("producer", PutRecordOnlyOn(allowed), ct);
        var producer = new AwsCli(fixture.Endpoint, id, secret);

        await producer.JsonAsync("kinesis", "put-record", "--stream-name", allowed, "--partition-key", "k", "--data", "aGVsbG8=");
        var elsewhere = await producer.FailsWithAsync("AccessDeniedException", "kinesis", "put-record", "--stream-name", other, "--partition-key", "k", "--data", "aGVsbG8=");
        Assert.Contains($"User: arn:aws:iam::000000000000:user/producer is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:000000000000:stream/{other} because no identity-based policy allows the kinesis:PutRecord action",
            elsewhere, StringComparison.Ordinal);
        await producer.FailsWithAsync("AccessDeniedException", "kinesis", "put-records", "--stream-name", allowed, "--records", "PartitionKey=k,Data=aGVsbG8=");
        await producer.FailsWithAsync("AccessDeniedException", "kinesis", "delete-stream", "--stream-name", allowed);
        await producer.FailsWithAsync("AccessDeniedException", "kinesis", "list-streams");

        // The same key may not manage keys, nor use the REST route for a stream its policy does not name.
        using var keys = TestCredentials.SignedClient(fixture.Endpoint, accessKeyId: id, secret: secret);
        using var list = await keys.GetAsync("/v1/access-keys", ct);
        await AssertRefusedAsync(list, "AccessDeniedException", "User: arn:aws:iam::000000000000:user/producer is not authorized to perform: runnel:ListAccessKeys on resource: * because no identity-based policy allows the runnel:ListAccessKeys action");

        // An explicit Deny wins over an Allow of everything.
        using var put = await fixture.Admin.PutAsync($"/v1/access-keys/{id}/policy", new StringContent($$"""
            {"Statement":[{"Effect":"Allow","Action":"kinesis:*","Resource":"*"},
                          {"Effect":"Deny","Action":"kinesis:Put*","Resource":"arn:aws:kinesis:*:*:stream/{{other}}"}]}
            """, Encoding.UTF8, "application/json"), ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        await producer.JsonAsync("kinesis", "put-record", "--stream-name", allowed, "--partition-key", "k", "--data", "aGVsbG8=");
        await producer.JsonAsync("kinesis", "list-streams");
        var denied = await producer.FailsWithAsync("AccessDeniedException", "kinesis", "put-record", "--stream-name", other, "--partition-key", "k", "--data", "aGVsbG8=");
        Assert.Contains("with an explicit deny in an identity-based policy", denied, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_session_token_is_refused_as_an_invalid_security_token_even_with_a_valid_key()
    {
        // Runnel issues no temporary credentials: a token is never one of its sessions, and the long-term key it came
        // with must not be served in its place.
        var withToken = new AwsCli(fixture.Endpoint) { SessionToken = "FwoGZXIvYXdzEXAMPLETOKEN" };
        var refused = await withToken.FailsWithAsync("UnrecognizedClientException", "kinesis", "list-streams");
        Assert.Contains("The security token included in the request is invalid.", refused, StringComparison.Ordinal);
        await new AwsCli(fixture.Endpoint).JsonAsync("kinesis", "list-streams");
    }

    [Fact]
    public async Task Aws_sdk_for_javascript_v3_signs_presigns_and_is_refused_with_a_wrong_key_or_clock()
    {
        var ct = TestContext.Current.CancellationToken;
        var (id, secret) = await fixture.CreateKeyAsync("js-user", """{"Statement":[{"Effect":"Allow","Action":["kinesis:*","runnel:GetHotKeys"],"Resource":"*"}]}""", ct);
        var stream = Names.Stream("auth-js");
        using var kinesis = new KinesisJsonClient(fixture.Endpoint);
        await kinesis.CreateStreamAsync(stream, 1, ct);
        await JavaScriptSdkTests.RunAsync(fixture.Endpoint, () => fixture.Host.Output, "auth.test.mjs", new Dictionary<string, string?>
        {
            ["RUNNEL_ACCESS_KEY_ID"] = id,
            ["RUNNEL_SECRET_ACCESS_KEY"] = secret,
            ["RUNNEL_STREAM"] = stream,
        });
    }

    [Fact]
    public async Task Curl_manages_keys_with_its_own_sigv4_signing()
    {
        var ct = TestContext.Current.CancellationToken;
        var user = $"curl-{Guid.NewGuid():N}"[..20];
        var result = await ExternalCommand.RunAsync("curl",
        [
            "--silent", "--show-error", "--fail-with-body", "--aws-sigv4", "aws:amz:us-east-1:runnel",
            "--user", $"{TestCredentials.AccessKeyId}:{TestCredentials.SecretAccessKey}",
            "-H", "Content-Type: application/json", "--data", $$"""{"UserName":"{{user}}"}""",
            new Uri(fixture.Endpoint, "/v1/access-keys").ToString(),
        ], TimeSpan.FromSeconds(30), cancellationToken: ct);
        Assert.True(result.Succeeded, result.Describe("curl --aws-sigv4"));
        var created = JsonNode.Parse(result.StandardOutput)!["AccessKey"]!;
        Assert.Equal(user, created["UserName"]!.GetValue<string>());
        var listed = await fixture.Admin.GetFromJsonAsync<JsonObject>("/v1/access-keys", ct);
        Assert.Contains(listed!["AccessKeys"]!.AsArray(), k => k!["AccessKeyId"]!.GetValue<string>() == created["AccessKeyId"]!.GetValue<string>());
        Assert.DoesNotContain("SecretAccessKey", listed.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secrets_are_not_in_the_metadata_store_in_plain_text()
    {
        var ct = TestContext.Current.CancellationToken;
        var (id, secret) = await fixture.CreateKeyAsync("sealed", """{"Statement":[{"Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*"}]}""", ct);
        await new AwsCli(fixture.Endpoint, id, secret).JsonAsync("kinesis", "list-streams");

        // The SQLite file and its write-ahead log hold every row written: the key's id is there, neither secret is.
        var files = Directory.GetFiles(fixture.DataDirectory, "metadata.db*");
        using var all = new MemoryStream();
        foreach (var file in files)
        {
            await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            await stream.CopyToAsync(all, ct);
        }
        var bytes = all.ToArray();
        Assert.True(bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(id)) >= 0, $"the key {id} is not in {string.Join(", ", files)}");
        Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)));
        Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(TestCredentials.SecretAccessKey)));
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, string type, string message)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {text}");
            using var error = JsonDocument.Parse(text);
            Assert.Equal(type, error.RootElement.GetProperty("__type").GetString());
            Assert.Equal(message, error.RootElement.GetProperty("message").GetString());
            Assert.Equal(type, response.Headers.GetValues("x-amzn-ErrorType").Single());
        }
    }
}

public sealed class StandaloneExposureTests
{
    [Fact]
    public async Task Refuses_to_start_without_authentication_on_a_non_loopback_address()
    {
        using var data = new TempDirectory("exposed");
        var result = await ExternalCommand.RunAsync("dotnet",
        [
            RepositoryPaths.ServiceAssembly("Runnel.Standalone"),
            $"--urls=http://0.0.0.0:{FreePorts.Get()}",
            $"--Runnel:DataDirectory={data.Path}",
            "--Security:Authentication=None",
        ], TimeSpan.FromMinutes(1), workingDirectory: data.Path, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(1, result.ExitCode);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("Refusing to start: Security:Authentication=None while listening on http://0.0.0.0:", line, StringComparison.Ordinal);
        Assert.DoesNotContain("listening on", result.StandardOutput, StringComparison.Ordinal);
    }
}
