using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Runnel.Core.Hashing;
using Runnel.Metadata;
using Runnel.Metadata.Entities;
using Runnel.TestKit;
using Runnel.TestKit.Standalone;

namespace Runnel.Ingest.Tests;

/// <summary>
/// A Standalone of its own whose resharding stops before a given step (the test-only switch
/// <c>Resharding:PauseBeforeStep</c>), then a new Standalone over the same data folder without it: the
/// operation left midway resumes at start and completes.
/// </summary>
public sealed class ReshardRecoveryTests : IAsyncDisposable
{
    private readonly TempDirectory _data = new("runnel-reshard");
    private readonly string _key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private StartedStandalone? _host;
    private HttpClient? _http;

    private async Task StartAsync(string? pauseBefore)
    {
        var args = new List<string>
        {
            "--urls=http://127.0.0.1:0",
            $"--Runnel:DataDirectory={_data.Path}",
            $"--Runnel:IteratorSigningKey={_key}",
            "--Logging:LogLevel:Default=Warning",
            // The test polls the stream's state faster than the account-wide control-plane rates.
            "--Throttling:ControlPlane:DescribeStreamSummary:PerSecond=0",
            "--Throttling:ControlPlane:SplitShard:PerSecond=0",
            "--Throttling:ControlPlane:MergeShards:PerSecond=0",
        };
        if (pauseBefore is not null)
            args.Add($"--Resharding:PauseBeforeStep={pauseBefore}");
        _host = await StartedStandalone.StartAsync([.. args], cancellationToken: TestContext.Current.CancellationToken);
        _http = new HttpClient { BaseAddress = _host.Address, Timeout = TimeSpan.FromSeconds(60) };
    }

    private async Task StopAsync()
    {
        _http?.Dispose();
        _http = null;
        if (_host is not null)
        {
            await _host.DisposeAsync();
            _host = null;
        }
    }

    private Task<KinesisAnswer> CallAsync(string operation, object request) => ReshardWorkload.CallAsync(_http!, operation, request);

    private async Task OkAsync(string operation, object request)
    {
        var answer = await CallAsync(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Body}");
    }

    private async Task<ReshardOperationEntity> OperationAsync()
    {
        var factory = _host!.Services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await using var db = await factory.CreateDbContextAsync(TestContext.Current.CancellationToken);
        return await db.ReshardOperations.AsNoTracking().SingleAsync(TestContext.Current.CancellationToken);
    }

    private async Task PutNumberedAsync(string stream, int from, int count)
    {
        var pending = Enumerable.Range(from, count).Select(n => (Key: $"k{n % 16}", N: n / 16)).ToList();
        await Wait.UntilAsync(async () =>
        {
            var answer = await CallAsync("PutRecords", new
            {
                StreamName = stream,
                Records = pending.Select(r => new { PartitionKey = r.Key, Data = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{r.Key}|{r.N}")) }).ToArray(),
            });
            Assert.Equal(200, answer.Status);
            var results = answer.Body.GetProperty("Records").EnumerateArray().ToList();
            pending = [.. pending.Where((r, i) => results[i].TryGetProperty("ErrorCode", out _))];
            return pending.Count == 0;
        }, TimeSpan.FromSeconds(30), "every record to be written");
    }

    [Theory]
    [InlineData("OPEN")]
    [InlineData("COMMIT")]
    public async Task An_operation_paused_midway_refuses_other_changes_and_completes_after_restart(string pauseBefore)
    {
        var stream = StandaloneFixture.NewStreamName("rec");
        await StartAsync(pauseBefore);
        await OkAsync("CreateStream", new { StreamName = stream, ShardCount = 2 });
        await PutNumberedAsync(stream, 0, 320);
        await OkAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000001", NewStartingHashKey = HashKeys.Format(UInt128.MaxValue - 1000) });
        await Wait.UntilAsync(async () => (await OperationAsync()).Step == pauseBefore, TimeSpan.FromSeconds(30), $"the operation to reach {pauseBefore}", cancellationToken: TestContext.Current.CancellationToken);

        // UPDATING: every other change of the shard set is refused.
        var workload = new ReshardWorkload(CallAsync, stream);
        Assert.Equal("UPDATING", await workload.StatusAsync());
        Assert.Equal("ResourceInUseException", (await CallAsync("SplitShard", new { StreamName = stream, ShardToSplit = "shardId-000000000000", NewStartingHashKey = "1000" })).Type);
        Assert.Equal("ResourceInUseException", (await CallAsync("MergeShards", new { StreamName = stream, ShardToMerge = "shardId-000000000000", AdjacentShardToMerge = "shardId-000000000001" })).Type);
        Assert.Equal("ResourceInUseException", (await CallAsync("UpdateShardCount", new { StreamName = stream, TargetShardCount = 3, ScalingType = "UNIFORM_SCALING" })).Type);
        // Shard 0 is not being resharded and keeps taking writes.
        await OkAsync("PutRecord", new { StreamName = stream, PartitionKey = "other", ExplicitHashKey = "5", Data = "AA==" });

        await StopAsync();
        await StartAsync(pauseBefore: null);
        await workload.WaitActiveAsync(TimeSpan.FromSeconds(60));
        var op = await OperationAsync();
        Assert.Equal(ReshardSteps.Done, op.Step);
        Assert.NotNull(op.CompletedAt);

        await PutNumberedAsync(stream, 320, 320);
        // The reader checks no loss, no duplicates and per-key order over parents and children; the
        // workload's own producers did not run, so compare against what was written here.
        await VerifyNumberedAsync(stream, 640);
    }

    private async Task VerifyNumberedAsync(string stream, int total)
    {
        var shards = (await ListAsync(stream)).ToList();
        Assert.Equal(4, shards.Count);
        var byKey = new Dictionary<string, List<int>>();
        var done = new HashSet<string>();
        while (done.Count < shards.Count)
        {
            var ready = shards.Where(s => !done.Contains(s.Id) && s.Parents.All(done.Contains)).ToList();
            Assert.NotEmpty(ready);
            foreach (var shard in ready)
            {
                var iterator = (await OkBodyAsync("GetShardIterator", new { StreamName = stream, ShardId = shard.Id, ShardIteratorType = "TRIM_HORIZON" }))
                    .GetProperty("ShardIterator").GetString();
                while (iterator is not null)
                {
                    var body = await OkBodyAsync("GetRecords", new { ShardIterator = iterator });
                    var records = body.GetProperty("Records").EnumerateArray().ToList();
                    foreach (var r in records)
                    {
                        var parts = Encoding.UTF8.GetString(Convert.FromBase64String(r.GetProperty("Data").GetString()!)).Split('|');
                        if (parts.Length < 2)
                            continue;
                        if (!byKey.TryGetValue(parts[0], out var list))
                            byKey[parts[0]] = list = [];
                        list.Add(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
                    }
                    iterator = body.TryGetProperty("NextShardIterator", out var n) ? n.GetString() : null;
                    if (records.Count == 0 && body.GetProperty("MillisBehindLatest").GetInt64() == 0 && iterator is not null)
                        break;
                }
                done.Add(shard.Id);
            }
        }
        Assert.Equal(16, byKey.Count);
        foreach (var (key, list) in byKey)
            Assert.True(list.SequenceEqual(Enumerable.Range(0, total / 16)), $"key {key}: {string.Join(',', list)}");
    }

    private async Task<IEnumerable<(string Id, string[] Parents)>> ListAsync(string stream) =>
        (await OkBodyAsync("ListShards", new { StreamName = stream })).GetProperty("Shards").EnumerateArray().Select(s => (
            s.GetProperty("ShardId").GetString()!,
            new[] { s.TryGetProperty("ParentShardId", out var p) ? p.GetString() : null, s.TryGetProperty("AdjacentParentShardId", out var a) ? a.GetString() : null }
                .OfType<string>().ToArray()));

    private async Task<System.Text.Json.JsonElement> OkBodyAsync(string operation, object request)
    {
        var answer = await CallAsync(operation, request);
        Assert.True(answer.Status == 200, $"{operation} answered {answer.Status}: {answer.Body}");
        return answer.Body;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _data.Dispose();
    }
}
