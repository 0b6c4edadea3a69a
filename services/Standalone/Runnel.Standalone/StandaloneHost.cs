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

    /// <summary>Where Standalone listens unless <c>--urls</c>, <c>Urls</c> or <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrls = "http://127.0.0.1:4700";

    /// <summary>Builds, prepares and runs Standalone; the exit code of the process.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        // Checked before any module is composed, so that nothing else is printed first.
        if (StartupChecks.PortInUse(builder.Configuration[WebHostDefaults.ServerUrlsKey]) is { } busy)
        {
            await Console.Error.WriteLineAsync(busy);
            return 1;
        }
        var app = Build(builder);
        await PrepareAsync(app);
        try
        {
            await app.RunAsync();
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            // Taken between the check and the bind.
            await Console.Error.WriteLineAsync(e.Message + " " + StartupChecks.PickAnotherPort);
            return 1;
        }
        return 0;
    }

    /// <param name="configure">Runs after the modules are registered, so it can replace services (tests).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null) => Build(CreateBuilder(args), configure);

    /// <summary>The builder with Standalone's settings complete (data folder, address, keys) and no module yet.</summary>
    private static WebApplicationBuilder CreateBuilder(string[] args)
    {
        // appsettings.json ships next to the binaries; the working directory only anchors the data folder.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddStandaloneDefaults();
        return builder;
    }

    private static WebApplication Build(WebApplicationBuilder builder, Action<WebApplicationBuilder>? configure = null)
    {
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
        // A default in the settings file would win over ASPNETCORE_URLS (environment variables with that prefix are read
        // before the file), so the address is defaulted here, only when nothing else names one.
        if (string.IsNullOrWhiteSpace(config[WebHostDefaults.ServerUrlsKey]) && string.IsNullOrWhiteSpace(config[WebHostDefaults.HttpPortsKey])
            && string.IsNullOrWhiteSpace(config[WebHostDefaults.HttpsPortsKey]))
            defaults[WebHostDefaults.ServerUrlsKey] = DefaultUrls;
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
