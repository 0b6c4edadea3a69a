using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Runnel.Analytics;
using Runnel.FanOut;
using Runnel.Firehose;
using Runnel.Ingest;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ShardStore;

namespace Runnel.Standalone;

/// <summary>
/// The whole platform in one process with embedded defaults: Ingest, a shard store node, FanOut,
/// Firehose and Analytics, over a SQLite metadata file and shard logs in one data folder
/// (<c>Runnel:DataDirectory</c>, default <c>./.data</c> under the working directory). Every default can be
/// overridden to point at real PostgreSQL, Redis, RabbitMQ and S3.
/// </summary>
public static class StandaloneHost
{
    private const string KeyFileName = "iterator-signing.key";

    /// <param name="configure">Runs after the modules are registered, so it can replace services (tests).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json ships next to the binaries; the working directory only anchors the data folder.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddStandaloneDefaults();
        builder.AddServiceDefaults();
        builder.Services.AddShardStoreNode(builder.Configuration);
        builder.AddIngest();
        builder.AddFanOut();
        builder.AddFirehose();
        builder.AddAnalytics();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapIngest();
        app.MapShardStore();
        app.MapFanOut();
        app.MapFirehose();
        app.MapAnalytics();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            foreach (var address in addresses)
                Console.WriteLine($"Runnel Standalone listening on {address}");
        });
        return app;
    }

    /// <summary>Brings the embedded metadata store up to date; call before running the app.</summary>
    public static async Task PrepareAsync(WebApplication app, CancellationToken cancellationToken = default)
    {
        await MetadataMigrations.MigrateAsync(app.Services, cancellationToken);
        var factory = app.Services.GetRequiredService<IDbContextFactory<MetadataDbContext>>();
        await using var db = await factory.CreateDbContextAsync(cancellationToken);
        if (db is SqliteMetadataDbContext)
        {
            // Write-ahead logging lets readers proceed while the control plane writes.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }
    }

    /// <summary>Resolves the data folder and fills in the settings only Standalone can default.</summary>
    private static void AddStandaloneDefaults(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var data = Path.GetFullPath(config["Runnel:DataDirectory"] is { Length: > 0 } d ? d : ".data", Directory.GetCurrentDirectory());
        Directory.CreateDirectory(data);
        var defaults = new Dictionary<string, string?> { ["Runnel:DataDirectory"] = data };
        if (string.IsNullOrWhiteSpace(config.GetConnectionString("Metadata")))
        {
            defaults["Metadata:Provider"] = nameof(MetadataProvider.Sqlite);
            defaults["ConnectionStrings:Metadata"] = new SqliteConnectionStringBuilder { DataSource = Path.Combine(data, "metadata.db") }.ToString();
        }
        if (string.IsNullOrWhiteSpace(config["Runnel:IteratorSigningKey"]))
            defaults["Runnel:IteratorSigningKey"] = LoadOrCreateSigningKey(data);
        if (string.IsNullOrWhiteSpace(config["ShardStore:DataDirectory"]))
            defaults["ShardStore:DataDirectory"] = Path.Combine(data, "shards");
        if (string.IsNullOrWhiteSpace(config["ShardStore:NodeId"]))
            defaults["ShardStore:NodeId"] = "standalone";
        config.AddInMemoryCollection(defaults);
    }

    /// <summary>
    /// Iterators issued before a restart must stay valid, so the key is generated once (256 random bits)
    /// and kept in the data folder, readable by the owner only.
    /// </summary>
    private static string LoadOrCreateSigningKey(string data)
    {
        var path = Path.Combine(data, KeyFileName);
        if (File.Exists(path))
            return File.ReadAllText(path).Trim();
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var temp = path + ".tmp";
        File.WriteAllText(temp, key);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: false);
        return key;
    }
}
