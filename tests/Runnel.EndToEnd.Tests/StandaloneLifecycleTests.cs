using System.Text;
using Runnel.TestKit;

namespace Runnel.EndToEnd.Tests;

/// <summary>
/// The README's run command as a newcomer uses it: Standalone in its own process answers readiness,
/// stops cleanly on Ctrl-C, and comes back on the same data folder with every acknowledged record.
/// </summary>
public sealed class StandaloneLifecycleTests
{
    [Fact]
    public async Task Stops_cleanly_on_ctrl_c_and_keeps_its_records_across_a_restart()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new TempDirectory("standalone-lifecycle");
        var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
        await using var host = await ProcessHost.StartAsync(new ProcessHostOptions(
            "standalone", RepositoryPaths.ServiceAssembly("Runnel.Standalone"), address,
            [$"--urls={address}", $"--Runnel:DataDirectory={data.Path}"])
        {
            WorkingDirectory = data.Path,
        }, ct);

        using var http = new HttpClient { BaseAddress = address };
        using (var ready = await http.GetAsync("/health/ready", ct))
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);

        var stream = Names.Stream("lifecycle");
        var records = Enumerable.Range(0, 20).Select(i => ($"key-{i % 3}", Encoding.UTF8.GetBytes($"record-{i}"))).ToList();
        IReadOnlyList<PutResult> put;
        using (var kinesis = new KinesisJsonClient(address))
        {
            await kinesis.CreateStreamAsync(stream, 2, ct);
            put = await kinesis.PutRecordsAsync(stream, records, ct);
        }
        Assert.All(put, r => Assert.True(r.Succeeded, r.ErrorMessage));

        var exitCode = await host.InterruptAsync(TimeSpan.FromSeconds(15));
        Assert.True(exitCode == 0, $"Standalone did not stop cleanly on SIGINT (exit code {exitCode?.ToString() ?? "none: killed after 15 s"}).\n{host.Output}");

        await host.StartAsync(ct);
        using var again = new KinesisJsonClient(address);
        var read = new List<ReadRecord>();
        foreach (var shard in await again.ShardIdsAsync(stream, ct))
            read.AddRange(await again.ReadAllAsync(stream, shard, ct));
        Assert.Equal(
            put.Select(p => p.SequenceNumber).Order(StringComparer.Ordinal),
            read.Select(r => r.SequenceNumber).Order(StringComparer.Ordinal));
        Assert.Equal(
            records.Select(r => Encoding.UTF8.GetString(r.Item2)).Order(StringComparer.Ordinal),
            read.Select(r => Encoding.UTF8.GetString(r.Data)).Order(StringComparer.Ordinal));
    }
}
