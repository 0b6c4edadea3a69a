using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Runnel.TestKit;

namespace Runnel.Ingest.Tests;

/// <summary>Calls one Kinesis operation (JSON 1.1) on some host.</summary>
public delegate Task<KinesisAnswer> KinesisCall(string operation, object request);

/// <summary>
/// Producers writing numbered records per partition key while a resharding runs, and a reader that follows
/// lineage (a shard is read only once all its parents were read to their end, as the KCL does). The check:
/// every record acknowledged is read exactly once, and per key the numbers and the sequence numbers
/// increase in the order the reader met them.
/// </summary>
public sealed class ReshardWorkload(KinesisCall call, string stream, int producers = 3, int keysPerProducer = 8)
{
    private readonly Dictionary<string, int> _acked = [];
    private readonly Lock _gate = new();
    private CancellationTokenSource? _stop;
    private Task[] _producers = [];

    public static async Task<KinesisAnswer> CallAsync(HttpClient http, string operation, object request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/")
        {
            Content = new StringContent(JsonSerializer.Serialize(request), Encoding.UTF8),
            Version = HttpVersion.Version11,
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        message.Headers.Add("X-Amz-Target", "Kinesis_20131202." + operation);
        using var response = await http.SendAsync(message, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        response.Headers.TryGetValues("x-amzn-ErrorType", out var types);
        return new KinesisAnswer((int)response.StatusCode, body, types?.FirstOrDefault(), response.Version, response.Content.Headers.ContentType?.MediaType);
    }

    public int AckedCount
    {
        get
        {
            lock (_gate)
                return _acked.Values.Sum();
        }
    }

    public void Start()
    {
        _stop = new CancellationTokenSource();
        _producers = [.. Enumerable.Range(0, producers).Select(p => Task.Run(() => ProduceAsync(p, _stop.Token)))];
    }

    public async Task StopAsync()
    {
        await _stop!.CancelAsync();
        await Task.WhenAll(_producers);
    }

    /// <summary>Writes batches of one record per key; records that failed are sent again, in order, before new ones.</summary>
    private async Task ProduceAsync(int producer, CancellationToken stop)
    {
        var next = new int[keysPerProducer];
        var pending = new List<(string Key, int N)>();
        while (!stop.IsCancellationRequested || pending.Count > 0)
        {
            if (pending.Count == 0)
                for (var k = 0; k < keysPerProducer; k++)
                    pending.Add(($"p{producer}-k{k}", next[k]++));
            var answer = await call("PutRecords", new
            {
                StreamName = stream,
                Records = pending.Select(r => new { PartitionKey = r.Key, Data = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{r.Key}|{r.N}")) }).ToArray(),
            });
            Assert.True(answer.Status == 200, $"PutRecords answered {answer.Status}: {answer.Body}");
            var results = answer.Body.GetProperty("Records").EnumerateArray().ToList();
            var failed = new List<(string Key, int N)>();
            lock (_gate)
            {
                for (var i = 0; i < results.Count; i++)
                {
                    if (results[i].TryGetProperty("ErrorCode", out _))
                        failed.Add(pending[i]);
                    else
                        _acked[pending[i].Key] = Math.Max(_acked.GetValueOrDefault(pending[i].Key), pending[i].N + 1);
                }
            }
            pending = failed;
            if (failed.Count > 0)
                await Task.Delay(20, CancellationToken.None);
        }
    }

    /// <summary>Reads the whole stream following lineage and checks it against what was acknowledged.</summary>
    public async Task VerifyAsync()
    {
        var shards = (await OkAsync("ListShards", new { StreamName = stream })).GetProperty("Shards").EnumerateArray().Select(s => (
            Id: s.GetProperty("ShardId").GetString()!,
            Parents: new[] { Str(s, "ParentShardId"), Str(s, "AdjacentParentShardId") }.OfType<string>().ToArray(),
            Closed: s.GetProperty("SequenceNumberRange").TryGetProperty("EndingSequenceNumber", out _))).ToList();
        var known = shards.Select(s => s.Id).ToHashSet();
        var finished = new HashSet<string>();
        var seen = new Dictionary<string, List<(int N, UInt128 Seq)>>();
        var progress = true;
        while (progress)
        {
            progress = false;
            foreach (var shard in shards.Where(s => !finished.Contains(s.Id) && s.Parents.All(p => finished.Contains(p) || !known.Contains(p))))
            {
                var ended = await ReadShardAsync(shard.Id, seen);
                Assert.True(ended == shard.Closed, $"Shard {shard.Id}: closed in ListShards = {shard.Closed}, reading reached its end = {ended}");
                finished.Add(shard.Id);
                progress = true;
            }
        }
        Assert.Equal(known.Count, finished.Count);

        Dictionary<string, int> acked;
        lock (_gate)
            acked = new Dictionary<string, int>(_acked);
        Assert.True(acked.Count > 0, "no record was acknowledged");
        foreach (var (key, count) in acked)
        {
            var got = seen.GetValueOrDefault(key) ?? [];
            // Every acknowledged record once, in order; nothing was written that was not acknowledged.
            Assert.True(got.Count == count, $"key {key}: {count} acknowledged, {got.Count} read: {string.Join(',', got.Select(g => g.N))}");
            for (var i = 0; i < got.Count; i++)
            {
                Assert.True(got[i].N == i, $"key {key}: record {i} read as {got[i].N}");
                if (i > 0)
                    Assert.True(got[i].Seq > got[i - 1].Seq, $"key {key}: sequence numbers out of order at {i}");
            }
        }
    }

    /// <summary>Reads one shard from TRIM_HORIZON; true when it reported its end (null NextShardIterator and ChildShards).</summary>
    private async Task<bool> ReadShardAsync(string shardId, Dictionary<string, List<(int N, UInt128 Seq)>> seen)
    {
        var iterator = (await OkAsync("GetShardIterator", new { StreamName = stream, ShardId = shardId, ShardIteratorType = "TRIM_HORIZON" }))
            .GetProperty("ShardIterator").GetString();
        while (iterator is not null)
        {
            var body = await OkAsync("GetRecords", new { ShardIterator = iterator, Limit = 10000 });
            var records = body.GetProperty("Records").EnumerateArray().ToList();
            foreach (var record in records)
            {
                var text = Encoding.UTF8.GetString(Convert.FromBase64String(record.GetProperty("Data").GetString()!)).Split('|');
                Assert.Equal(record.GetProperty("PartitionKey").GetString(), text[0]);
                if (!seen.TryGetValue(text[0], out var list))
                    seen[text[0]] = list = [];
                list.Add((int.Parse(text[1], CultureInfo.InvariantCulture), UInt128.Parse(record.GetProperty("SequenceNumber").GetString()!, CultureInfo.InvariantCulture)));
            }
            var next = body.TryGetProperty("NextShardIterator", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            if (next is null)
            {
                Assert.True(body.TryGetProperty("ChildShards", out var children) && children.GetArrayLength() > 0,
                    $"end of {shardId} without ChildShards: {body}");
                return true;
            }
            // An open shard is read up to its tip.
            if (records.Count == 0 && body.GetProperty("MillisBehindLatest").GetInt64() == 0)
                return false;
            iterator = next;
        }
        return false;
    }

    public async Task WaitActiveAsync(TimeSpan timeout) =>
        await Wait.UntilAsync(async () => await StatusAsync() == "ACTIVE", timeout, $"stream {stream} to return to ACTIVE", TimeSpan.FromMilliseconds(50));

    public async Task<string?> StatusAsync() =>
        (await OkAsync("DescribeStreamSummary", new { StreamName = stream })).GetProperty("StreamDescriptionSummary").GetProperty("StreamStatus").GetString();

    private async Task<JsonElement> OkAsync(string operation, object request)
    {
        var answer = await call(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Body}");
        return answer.Body;
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;
}
