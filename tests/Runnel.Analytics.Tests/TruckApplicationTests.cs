using Runnel.TestKit;

namespace Runnel.Analytics.Tests;

/// <summary>The trucks application end to end on Standalone: shards, the SQL, windows, the table and restarts.</summary>
public sealed class TruckApplicationTests
{
    [Fact]
    public async Task Per_truck_minutes_in_the_table_equal_a_reference_computation()
    {
        await using var db = await PostgresDatabase.CreateAsync("analytics_trucks", TestContext.Current.CancellationToken);
        using var data = new TempDirectory("runnel-analytics");
        await using var host = await AnalyticsHost.StartAsync(data.Path, AnalyticsHost.NewSigningKey(), db.ConnectionString);
        var stream = AnalyticsHost.NewName("trucks");
        var application = AnalyticsHost.NewName("truck-minutes");
        await host.CreateStreamAsync(stream, 2);
        var (events, closing) = Trucks.Generate(minutes: 5, seed: 14);
        var expected = Trucks.Reference(events);

        await host.PutAsync(stream, events.Concat(closing).Select(e => (e.Truck, e.Json)));
        await host.AnalyticsOkAsync("CreateApplication", Trucks.CreateRequest(application, stream));
        await host.AnalyticsOkAsync("StartApplication", Trucks.StartRequest(application));

        await Wait.UntilAsync(async () => (await Trucks.TableAsync(db.ConnectionString)).Count >= expected.Count,
            TimeSpan.FromSeconds(120), $"{expected.Count} truck minutes in the table", cancellationToken: TestContext.Current.CancellationToken);
        Trucks.AssertSame(expected, await Trucks.TableAsync(db.ConnectionString));
        Assert.Equal("RUNNING", await host.StatusAsync(application));
    }

    [Fact]
    public async Task A_host_restarted_mid_window_emits_every_window_once()
    {
        await using var db = await PostgresDatabase.CreateAsync("analytics_restart", TestContext.Current.CancellationToken);
        using var data = new TempDirectory("runnel-analytics");
        var key = AnalyticsHost.NewSigningKey();
        var stream = AnalyticsHost.NewName("trucks");
        var application = AnalyticsHost.NewName("truck-minutes");
        var (events, closing) = Trucks.Generate(minutes: 4, seed: 41);
        var expected = Trucks.Reference(events);
        // The first part ends in the middle of minute 2: minutes 0 and 1 close before the restart, minute 2 is open.
        var cut = events.FindIndex(e => e.At >= Trucks.T0.AddMinutes(2.5));
        var closedBefore = expected.Count(m => m.Start < Trucks.T0.AddMinutes(2));

        await using (var first = await AnalyticsHost.StartAsync(data.Path, key, db.ConnectionString))
        {
            await first.CreateStreamAsync(stream, 2);
            await first.PutAsync(stream, events.Take(cut).Select(e => (e.Truck, e.Json)));
            await first.AnalyticsOkAsync("CreateApplication", Trucks.CreateRequest(application, stream));
            await first.AnalyticsOkAsync("StartApplication", Trucks.StartRequest(application));
            await Wait.UntilAsync(async () => (await Trucks.TableAsync(db.ConnectionString)).Count >= closedBefore,
                TimeSpan.FromSeconds(120), "minutes 0 and 1 in the table", cancellationToken: TestContext.Current.CancellationToken);
        }
        var before = await Trucks.TableAsync(db.ConnectionString);
        Assert.DoesNotContain(before, m => m.Start >= Trucks.T0.AddMinutes(2));

        await using var second = await AnalyticsHost.StartAsync(data.Path, key, db.ConnectionString);
        await second.PutAsync(stream, events.Skip(cut).Concat(closing).Select(e => (e.Truck, e.Json)));
        await Wait.UntilAsync(async () => (await Trucks.TableAsync(db.ConnectionString)).Count >= expected.Count,
            TimeSpan.FromSeconds(120), $"{expected.Count} truck minutes in the table", cancellationToken: TestContext.Current.CancellationToken);
        // Counts equal to the reference: the open window of minute 2 was neither lost nor counted twice.
        Trucks.AssertSame(expected, await Trucks.TableAsync(db.ConnectionString));
    }
}
