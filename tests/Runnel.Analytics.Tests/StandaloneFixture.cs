using Runnel.TestKit;

namespace Runnel.Analytics.Tests;

/// <summary>One Standalone for the API tests of a class (each test uses streams and applications of its own).</summary>
public sealed class StandaloneFixture : IAsyncLifetime
{
    private readonly TempDirectory _data = new("runnel-analytics");
    private PostgresDatabase? _db;

    public AnalyticsHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _db = await PostgresDatabase.CreateAsync("analytics_api");
        Host = await AnalyticsHost.StartAsync(_data.Path, AnalyticsHost.NewSigningKey(), _db.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        if (Host is not null)
            await Host.DisposeAsync();
        if (_db is not null)
            await _db.DisposeAsync();
        _data.Dispose();
    }
}
