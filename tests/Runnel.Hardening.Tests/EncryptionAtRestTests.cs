using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Runnel.ShardStore.Encryption;
using Runnel.TestKit;

namespace Runnel.Hardening.Tests;

/// <summary>
/// StartStreamEncryption / StopStreamEncryption through the AWS CLI against Standalone: no file of the data folder holds
/// a record put while the stream was encrypted, reads return it, everything reads back after a restart, and another
/// master key neither starts nor reads.
/// </summary>
public sealed class EncryptionAtRestTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<CommandResult> CliAsync(HardeningFixture f, params string[] arguments) =>
        await ExternalCommand.RunAsync(TestServers.AwsCli(),
            [.. arguments, "--endpoint-url", f.Address.ToString().TrimEnd('/'), "--output", "json", "--cli-binary-format", "raw-in-base64-out"],
            TimeSpan.FromSeconds(60), AwsCliEnvironment.Variables, cancellationToken: Ct);

    private static async Task<JsonNode?> CliOkAsync(HardeningFixture f, params string[] arguments)
    {
        var result = await CliAsync(f, arguments);
        Assert.True(result.Succeeded, result.Describe("aws " + string.Join(' ', arguments)));
        var text = result.StandardOutput.Trim();
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    private static bool AnyFileContains(string directory, string marker)
    {
        var needle = Encoding.UTF8.GetBytes(marker);
        return Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Any(path => File.ReadAllBytes(path).AsSpan().IndexOf(needle) >= 0);
    }

    /// <summary>Every record of the stream's one shard, as GetRecords answers them.</summary>
    private static async Task<List<System.Text.Json.JsonElement>> RecordsAsync(HardeningFixture f, string stream)
    {
        var iterator = (await f.OkAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        return [.. (await f.OkAsync("GetRecords", new { ShardIterator = iterator, Limit = 100 })).GetProperty("Records").EnumerateArray()];
    }

    private static async Task<string[]> ReadAllAsync(HardeningFixture f, string stream) =>
        [.. (await RecordsAsync(f, stream)).Select(r => Encoding.UTF8.GetString(r.GetProperty("Data").GetBytesFromBase64()))];

    /// <summary>Each record's EncryptionType, null where GetRecords leaves it out.</summary>
    private static async Task<string?[]> EncryptionTypesAsync(HardeningFixture f, string stream) =>
        [.. (await RecordsAsync(f, stream)).Select(r => r.TryGetProperty("EncryptionType", out var t) ? t.GetString() : null)];

    [Fact]
    public async Task Records_put_while_a_stream_is_encrypted_are_in_no_file_and_read_back_across_a_restart_but_not_with_another_master_key()
    {
        using var data = new TempDirectory("runnel-encryption");
        var stream = HardeningFixture.NewStreamName("sealed");
        var id = Guid.NewGuid().ToString("N");
        string before = $"clear-before-{id}", secret = $"secret-marker-{id}", after = $"clear-after-{id}";

        await using (var f = new HardeningFixture(data.Path))
        {
            await f.InitializeAsync();
            await f.CreateStreamAsync(stream);
            var clear = await CliOkAsync(f, "kinesis", "put-record", "--stream-name", stream, "--partition-key", "p", "--data", before);
            Assert.Equal("NONE", clear!["EncryptionType"]!.GetValue<string>());

            await CliOkAsync(f, "kinesis", "start-stream-encryption", "--stream-name", stream, "--encryption-type", "KMS", "--key-id", "alias/aws/kinesis");
            var summary = (await CliOkAsync(f, "kinesis", "describe-stream-summary", "--stream-name", stream))!["StreamDescriptionSummary"]!;
            Assert.Equal("KMS", summary["EncryptionType"]!.GetValue<string>());
            Assert.Equal("alias/aws/kinesis", summary["KeyId"]!.GetValue<string>());
            var described = (await CliOkAsync(f, "kinesis", "describe-stream", "--stream-name", stream))!["StreamDescription"]!;
            Assert.Equal("KMS", described["EncryptionType"]!.GetValue<string>());

            var unknown = await CliAsync(f, "kinesis", "start-stream-encryption", "--stream-name", stream, "--encryption-type", "KMS", "--key-id", "alias/not-configured");
            Assert.False(unknown.Succeeded);
            Assert.Contains("(KMSNotFoundException)", unknown.StandardError, StringComparison.Ordinal);

            // PutRecord and PutRecords answer the stream's encryption, as AWS does.
            for (var i = 0; i < 2; i++)
            {
                var put = await CliOkAsync(f, "kinesis", "put-record", "--stream-name", stream, "--partition-key", $"k{i}", "--data", $"{secret}-{i}");
                Assert.Equal("KMS", put!["EncryptionType"]!.GetValue<string>());
            }
            var puts = await CliOkAsync(f, "kinesis", "put-records", "--stream-name", stream, "--records",
                $$"""[{"PartitionKey":"k2","Data":"{{secret}}-2"}]""");
            Assert.Equal(("KMS", 0), (puts!["EncryptionType"]!.GetValue<string>(), puts["FailedRecordCount"]!.GetValue<int>()));

            var iterator = (await CliOkAsync(f, "kinesis", "get-shard-iterator", "--stream-name", stream, "--shard-id", "shardId-000000000000",
                "--shard-iterator-type", "TRIM_HORIZON"))!["ShardIterator"]!.GetValue<string>();
            var records = (await CliOkAsync(f, "kinesis", "get-records", "--shard-iterator", iterator))!["Records"]!.AsArray();
            Assert.Equal([before, $"{secret}-0", $"{secret}-1", $"{secret}-2"],
                records.Select(r => Encoding.UTF8.GetString(Convert.FromBase64String(r!["Data"]!.GetValue<string>()))).ToArray());
            // Each record says how it is stored: the one put before encryption started carries no EncryptionType.
            Assert.Equal([null, "KMS", "KMS", "KMS"], records.Select(r => r!["EncryptionType"]?.GetValue<string>()).ToArray());

            Assert.True(AnyFileContains(data.Path, before), "the record put before encryption is found in the clear (the search sees the files)");
            Assert.False(AnyFileContains(data.Path, secret), "a record put while the stream was encrypted is in a file in the clear");

            await CliOkAsync(f, "kinesis", "stop-stream-encryption", "--stream-name", stream, "--encryption-type", "KMS", "--key-id", "alias/aws/kinesis");
            Assert.Equal("NONE", (await CliOkAsync(f, "kinesis", "describe-stream-summary", "--stream-name", stream))!["StreamDescriptionSummary"]!["EncryptionType"]!.GetValue<string>());
            var cleared = await CliOkAsync(f, "kinesis", "put-record", "--stream-name", stream, "--partition-key", "p", "--data", after);
            Assert.Equal("NONE", cleared!["EncryptionType"]!.GetValue<string>());
            Assert.True(AnyFileContains(data.Path, after), "records put after StopStreamEncryption are written in the clear");
            Assert.False(AnyFileContains(data.Path, secret));
        }

        string[] expected = [before, $"{secret}-0", $"{secret}-1", $"{secret}-2", after];
        await using (var f = new HardeningFixture(data.Path))
        {
            await f.InitializeAsync();
            Assert.Equal(expected, await ReadAllAsync(f, stream));
            Assert.Equal([null, "KMS", "KMS", "KMS", null], await EncryptionTypesAsync(f, stream));
            await f.Services.GetRequiredService<MetadataKeyring>().CheckMasterKeyAsync(Ct);
        }

        var otherKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await using (var f = new HardeningFixture(data.Path, $"--Security:MasterKey={otherKey}"))
        {
            await f.InitializeAsync();
            // Standalone runs this check before it listens and exits with its message (StandaloneHost.RunAsync).
            var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => f.Services.GetRequiredService<MetadataKeyring>().CheckMasterKeyAsync(Ct));
            Assert.Contains("Security:MasterKey does not open the stored data keys", refused.Message);
            var iterator = (await f.OkAsync("GetShardIterator", new { StreamName = stream, ShardId = "shardId-000000000000", ShardIteratorType = "TRIM_HORIZON" }))
                .GetProperty("ShardIterator").GetString();
            var answer = await f.CallAsync("GetRecords", new { ShardIterator = iterator });
            Assert.Equal(500, answer.Status);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)), answer.Text);
        }

        await using (var f = new HardeningFixture(data.Path))
        {
            await f.InitializeAsync();
            Assert.Equal(expected, await ReadAllAsync(f, stream));
        }
    }
}
