using Runnel.TestKit;

namespace Runnel.Analytics.Tests;

/// <summary>Standalone in its own process, killed with SIGKILL while an application's windows are open.</summary>
public sealed class KillRestartTests
{
    [Fact]
    public async Task A_process_killed_mid_window_under_steady_input_leaves_every_window_once_in_the_table()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await PostgresDatabase.CreateAsync("analytics_kill", ct);
        using var data = new TempDirectory("runnel-analytics-kill");
        var address = new Uri($"http://127.0.0.1:{FreePorts.Get()}");
        await using var process = await ProcessHost.StartAsync(new ProcessHostOptions(
            "standalone", RepositoryPaths.ServiceAssembly("Runnel.Standalone"), address,
            AnalyticsHost.Arguments(address.ToString(), data.Path, AnalyticsHost.NewSigningKey(), db.ConnectionString))
        {
            WorkingDirectory = data.Path,
        }, ct);
        await using var host = new AnalyticsHost(address);
        var stream = AnalyticsHost.NewName("trucks");
        var application = AnalyticsHost.NewName("truck-minutes");
        var (events, closing) = Trucks.Generate(minutes: 6, seed: 99);
        var expected = Trucks.Reference(events);
        await host.CreateStreamAsync(stream, 2);
        await host.AnalyticsOkAsync("CreateApplication", Trucks.CreateRequest(application, stream));
        await host.AnalyticsOkAsync("StartApplication", Trucks.StartRequest(application));
        await host.WaitRunningAsync(application);

        // A steady input in event-time order, 100 events per PutRecords call. Once the first windows are in the table
        // (so the application has committed and later minutes are open), the process is killed right after a put,
        // with that put's minute open and records not yet read, and started again on the same data.
        var emittedAtKill = -1;
        foreach (var chunk in events.Chunk(100))
        {
            await host.PutAsync(stream, chunk.Select(e => (e.Truck, e.Json)));
            if (emittedAtKill < 0 && await Trucks.TableAsync(db.ConnectionString) is { Count: > 0 } before)
            {
                await process.KillAsync();
                emittedAtKill = before.Count;
                await process.StartAsync(ct);
            }
        }
        Assert.InRange(emittedAtKill, 1, expected.Count - 1);
        await host.PutAsync(stream, closing.Select(e => (e.Truck, e.Json)));

        await Wait.UntilAsync(async () => (await Trucks.TableAsync(db.ConnectionString)).Count >= expected.Count,
            TimeSpan.FromSeconds(180), $"{expected.Count} truck minutes in the table", cancellationToken: ct);
        // Counts and averages equal to the reference: no window lost its rows before the kill or counted them twice.
        Trucks.AssertSame(expected, await Trucks.TableAsync(db.ConnectionString));
        Assert.Equal("RUNNING", await host.StatusAsync(application));
    }
}
