using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using Runnel.Core.Hashing;
using Runnel.EndToEnd.Tests.Cluster;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// kill -9 of the Ingest process while it runs a SplitShard: the cluster's Ingest starts with the test-only
/// switch <c>Resharding:PauseBeforeStep</c>, so the operation stops at a known step with its state in
/// PostgreSQL; the process is killed there and started again without the switch. The operation resumes,
/// completes, the stream returns to ACTIVE, and a reader following lineage finds every record once, in
/// order per key.
/// </summary>
public sealed class ReshardCrashTests
{
    private const int Keys = 16;
    private const string PauseSwitch = "--Resharding:PauseBeforeStep=";

    [Theory]
    [InlineData("SEAL")]
    [InlineData("COMMIT")]
    public async Task A_split_interrupted_by_kill_9_of_ingest_completes_after_restart(string step)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await RunnelCluster.StartAsync(new ClusterOptions { IngestArguments = [PauseSwitch + step] }, ct);
        var stream = Names.Stream("reshard-crash");
        var next = new int[Keys];
        using (var kinesis = new KinesisJsonClient(cluster.Endpoint))
        {
            await kinesis.CreateStreamAsync(stream, 2, ct);
            await PutAsync(kinesis, stream, next, rounds: 20, ct);
            await kinesis.CallAsync("SplitShard", new JsonObject
            {
                ["StreamName"] = stream,
                ["ShardToSplit"] = "shardId-000000000000",
                ["NewStartingHashKey"] = HashKeys.Format(UInt128.One << 125),
            }, ct);
            await Wait.UntilAsync(async () => await StepAsync(cluster, stream, ct) == step, TimeSpan.FromSeconds(30),
                $"the split to stop before {step}", TimeSpan.FromMilliseconds(50), ct);
            var summary = await kinesis.CallAsync("DescribeStreamSummary", new JsonObject { ["StreamName"] = stream }, ct);
            Assert.Equal("UPDATING", summary["StreamDescriptionSummary"]!["StreamStatus"]!.GetValue<string>());
            var concurrent = await Assert.ThrowsAsync<KinesisCallException>(() => kinesis.CallAsync("MergeShards", new JsonObject
            {
                ["StreamName"] = stream,
                ["ShardToMerge"] = "shardId-000000000000",
                ["AdjacentShardToMerge"] = "shardId-000000000001",
            }, ct));
            Assert.Equal("ResourceInUseException", concurrent.Type);
        }

        await cluster.Ingest.KillAsync();
        var restarted = cluster.Ingest.Options with { Arguments = [.. cluster.Ingest.Options.Arguments.Where(a => !a.StartsWith(PauseSwitch, StringComparison.Ordinal))] };
        await using var ingest = await ProcessHost.StartAsync(restarted, ct);
        try
        {
            using var kinesis = new KinesisJsonClient(ingest.BaseAddress);
            await Wait.UntilAsync(async () => await StepAsync(cluster, stream, ct) == "DONE", TimeSpan.FromSeconds(60),
                "the split to complete after the restart", TimeSpan.FromMilliseconds(100), ct);
            await kinesis.WaitActiveAsync(stream, ct);
            await PutAsync(kinesis, stream, next, rounds: 20, ct);
            await VerifyAsync(kinesis, stream, next, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{cluster.Describe()}\n===== restarted ingest =====\n{ingest.Output}");
        }
    }

    private static async Task<string?> StepAsync(RunnelCluster cluster, string stream, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(cluster.Database.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            """
            SELECT o."Step" FROM reshard_operations o JOIN streams s ON s."Id" = o."StreamId" WHERE s."Name" = @name
            """, connection);
        command.Parameters.AddWithValue("name", stream);
        return (string?)await command.ExecuteScalarAsync(ct);
    }

    /// <summary>Writes one numbered record per key per round; a failed record is sent again before the key's next.</summary>
    private static async Task PutAsync(KinesisJsonClient kinesis, string stream, int[] next, int rounds, CancellationToken ct)
    {
        for (var round = 0; round < rounds; round++)
        {
            var pending = Enumerable.Range(0, Keys).Select(k => (Key: $"k{k}", N: next[k]++)).ToList();
            await Wait.UntilAsync(async () =>
            {
                var results = await kinesis.PutRecordsAsync(stream, [.. pending.Select(p => (p.Key, Encoding.UTF8.GetBytes($"{p.Key}|{p.N}")))], ct);
                pending = [.. pending.Where((p, i) => !results[i].Succeeded)];
                return pending.Count == 0;
            }, TimeSpan.FromSeconds(30), "a round of records to be written", TimeSpan.FromMilliseconds(20), ct);
        }
    }

    private static async Task VerifyAsync(KinesisJsonClient kinesis, string stream, int[] written, CancellationToken ct)
    {
        var shards = (await kinesis.CallAsync("ListShards", new JsonObject { ["StreamName"] = stream }, ct))["Shards"]!.AsArray()
            .Select(s => (
                Id: s!["ShardId"]!.GetValue<string>(),
                Parents: new[] { s["ParentShardId"]?.GetValue<string>(), s["AdjacentParentShardId"]?.GetValue<string>() }.OfType<string>().ToArray(),
                Closed: s["SequenceNumberRange"]!["EndingSequenceNumber"] is not null))
            .ToList();
        Assert.Equal(4, shards.Count);
        Assert.Single(shards, s => s.Closed);
        var byKey = new Dictionary<string, List<(int N, UInt128 Seq)>>();
        var done = new HashSet<string>();
        while (done.Count < shards.Count)
        {
            var ready = shards.Where(s => !done.Contains(s.Id) && s.Parents.All(done.Contains)).ToList();
            Assert.NotEmpty(ready);
            foreach (var shard in ready)
            {
                string? iterator = await kinesis.ShardIteratorAsync(stream, shard.Id, "TRIM_HORIZON", cancellationToken: ct);
                var ended = false;
                while (iterator is not null)
                {
                    var answer = await kinesis.CallAsync("GetRecords", new JsonObject { ["ShardIterator"] = iterator, ["Limit"] = 10_000 }, ct);
                    var records = answer["Records"]!.AsArray();
                    foreach (var r in records)
                    {
                        var parts = Encoding.UTF8.GetString(Convert.FromBase64String(r!["Data"]!.GetValue<string>())).Split('|');
                        if (!byKey.TryGetValue(parts[0], out var list))
                            byKey[parts[0]] = list = [];
                        list.Add((int.Parse(parts[1], CultureInfo.InvariantCulture), UInt128.Parse(r["SequenceNumber"]!.GetValue<string>(), CultureInfo.InvariantCulture)));
                    }
                    iterator = answer["NextShardIterator"]?.GetValue<string>();
                    if (iterator is null)
                    {
                        ended = true;
                        Assert.NotEmpty(answer["ChildShards"]!.AsArray());
                    }
                    else if (records.Count == 0 && answer["MillisBehindLatest"]?.GetValue<long>() == 0)
                        break;
                }
                Assert.Equal(shard.Closed, ended);
                done.Add(shard.Id);
            }
        }
        for (var k = 0; k < Keys; k++)
        {
            var got = byKey.GetValueOrDefault($"k{k}") ?? [];
            Assert.True(got.Select(g => g.N).SequenceEqual(Enumerable.Range(0, written[k])), $"k{k}: {string.Join(',', got.Select(g => g.N))}");
            for (var i = 1; i < got.Count; i++)
                Assert.True(got[i].Seq > got[i - 1].Seq, $"k{k}: sequence numbers out of order at {i}");
        }
    }
}
