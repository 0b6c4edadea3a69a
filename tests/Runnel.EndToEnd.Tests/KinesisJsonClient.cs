using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>An error answer of the Kinesis protocol (<c>__type</c> and message) or a transport failure.</summary>
public sealed class KinesisCallException(int status, string type, string message) : Exception($"{status} {type}: {message}")
{
    public int Status { get; } = status;

    public string Type { get; } = type;
}

/// <summary>One record of a PutRecords answer: either a shard and sequence number, or an error code.</summary>
public sealed record PutResult(string? ShardId, string? SequenceNumber, string? ErrorCode, string? ErrorMessage)
{
    public bool Succeeded => ErrorCode is null && SequenceNumber is not null;
}

/// <summary>A record as GetRecords returns it.</summary>
public sealed record ReadRecord(string SequenceNumber, string PartitionKey, byte[] Data);

/// <summary>
/// The Kinesis JSON 1.1 protocol spoken directly over HttpClient, for the harness's own polling and
/// for load that would be too slow through the CLI. Compatibility itself is proven with real AWS
/// clients (CLI, JavaScript SDK); this client asserts nothing about the protocol beyond what it reads.
/// </summary>
public sealed class KinesisJsonClient(Uri endpoint, TimeSpan? timeout = null,
    string accessKeyId = TestCredentials.AccessKeyId, string secret = TestCredentials.SecretAccessKey) : IDisposable
{
    private static readonly MediaTypeHeaderValue ContentType = new("application/x-amz-json-1.1");
    private readonly HttpClient _http = TestCredentials.SignedClient(endpoint, timeout ?? TimeSpan.FromSeconds(30), accessKeyId, secret);

    public async Task<JsonObject> CallAsync(string operation, JsonObject body, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/");
        request.Headers.Add("X-Amz-Target", $"Kinesis_20131202.{operation}");
        request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8);
        request.Content.Headers.ContentType = ContentType;
        using var response = await _http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            string type = "", message = text;
            try
            {
                var error = JsonNode.Parse(text)?.AsObject();
                type = error?["__type"]?.GetValue<string>() ?? "";
                message = (error?["message"] ?? error?["Message"])?.GetValue<string>() ?? text;
            }
            catch (System.Text.Json.JsonException)
            {
                // Not a protocol answer (a proxy or crash page): keep the raw text.
            }

            throw new KinesisCallException((int)response.StatusCode, type, message);
        }

        return text.Length == 0 ? [] : JsonNode.Parse(text)!.AsObject();
    }

    public async Task CreateStreamAsync(string name, int shards, CancellationToken cancellationToken = default)
    {
        await CallAsync("CreateStream", new JsonObject { ["StreamName"] = name, ["ShardCount"] = shards }, cancellationToken);
        await WaitActiveAsync(name, cancellationToken);
    }

    public Task WaitActiveAsync(string name, CancellationToken cancellationToken = default) =>
        Wait.UntilAsync(async () =>
        {
            var summary = await CallAsync("DescribeStreamSummary", new JsonObject { ["StreamName"] = name }, cancellationToken);
            return summary["StreamDescriptionSummary"]?["StreamStatus"]?.GetValue<string>() == "ACTIVE";
        }, TimeSpan.FromSeconds(30), $"stream {name} to become ACTIVE", TimeSpan.FromMilliseconds(100), cancellationToken);

    public async Task<IReadOnlyList<PutResult>> PutRecordsAsync(string stream, IReadOnlyList<(string PartitionKey, byte[] Data)> records, CancellationToken cancellationToken = default)
    {
        var entries = new JsonArray();
        foreach (var (key, data) in records)
        {
            entries.Add(new JsonObject { ["PartitionKey"] = key, ["Data"] = Convert.ToBase64String(data) });
        }

        var answer = await CallAsync("PutRecords", new JsonObject { ["StreamName"] = stream, ["Records"] = entries }, cancellationToken);
        var results = answer["Records"]!.AsArray();
        if (results.Count != records.Count)
        {
            throw new InvalidOperationException($"PutRecords answered {results.Count} results for {records.Count} records.");
        }

        return results.Select(r => new PutResult(
            r?["ShardId"]?.GetValue<string>(), r?["SequenceNumber"]?.GetValue<string>(),
            r?["ErrorCode"]?.GetValue<string>(), r?["ErrorMessage"]?.GetValue<string>())).ToList();
    }

    public async Task<IReadOnlyList<string>> ShardIdsAsync(string stream, CancellationToken cancellationToken = default)
    {
        var answer = await CallAsync("ListShards", new JsonObject { ["StreamName"] = stream }, cancellationToken);
        return answer["Shards"]!.AsArray().Select(s => s!["ShardId"]!.GetValue<string>()).ToList();
    }

    public async Task<string> ShardIteratorAsync(string stream, string shardId, string type, string? sequenceNumber = null, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["StreamName"] = stream, ["ShardId"] = shardId, ["ShardIteratorType"] = type };
        if (sequenceNumber is not null)
        {
            body["StartingSequenceNumber"] = sequenceNumber;
        }

        var answer = await CallAsync("GetShardIterator", body, cancellationToken);
        return answer["ShardIterator"]!.GetValue<string>();
    }

    /// <summary>Reads a shard from TRIM_HORIZON until a read comes back empty at the tip.</summary>
    public async Task<List<ReadRecord>> ReadAllAsync(string stream, string shardId, CancellationToken cancellationToken = default)
    {
        var records = new List<ReadRecord>();
        var iterator = await ShardIteratorAsync(stream, shardId, "TRIM_HORIZON", cancellationToken: cancellationToken);
        // Each call returns up to 10,000 records; the bound only stops a reader that never reaches the tip.
        for (var call = 0; call < 10_000 && iterator is not null; call++)
        {
            var answer = await CallAsync("GetRecords", new JsonObject { ["ShardIterator"] = iterator, ["Limit"] = 10_000 }, cancellationToken);
            var batch = answer["Records"]!.AsArray();
            foreach (var r in batch)
            {
                records.Add(new ReadRecord(
                    r!["SequenceNumber"]!.GetValue<string>(),
                    r["PartitionKey"]!.GetValue<string>(),
                    Convert.FromBase64String(r["Data"]!.GetValue<string>())));
            }

            iterator = answer["NextShardIterator"]?.GetValue<string>();
            if (batch.Count == 0 && answer["MillisBehindLatest"]?.GetValue<long>() == 0)
            {
                return records;
            }
        }

        throw new InvalidOperationException($"Reading {stream}/{shardId} did not reach the tip.");
    }

    public void Dispose() => _http.Dispose();
}
