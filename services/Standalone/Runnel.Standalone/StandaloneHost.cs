using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Runnel.Analytics;
using Runnel.FanOut;
using Runnel.Firehose;
using Runnel.Ingest;
using Runnel.Ingest.Auth;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ShardStore;
using Runnel.ShardStore.Encryption;

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
    private const string MasterKeyFileName = "master.key";
    private const string MasterKeyFileKey = "Standalone:MasterKeyFile";

    /// <summary>Where Standalone listens unless <c>--urls</c>, <c>Urls</c> or <c>ASPNETCORE_URLS</c> says otherwise.</summary>
    public const string DefaultUrls = "http://127.0.0.1:4700";

    /// <summary>Builds, prepares and runs Standalone; the exit code of the process.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplicationBuilder builder;
        try
        {
            builder = CreateBuilder(args);
        }
        catch (StandaloneConfigurationException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
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
            await app.Services.GetRequiredService<MetadataKeyring>().CheckMasterKeyAsync(CancellationToken.None);
        }
        catch (InvalidOperationException e)
        {
            await Console.Error.WriteLineAsync("Refusing to start: " + e.Message);
            return 1;
        }
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
        // The node API (/internal/shards/...) is not mapped: Standalone reaches its one node in process, and on the
        // public port those routes would let anyone read, seal, purge or delete any shard's data.
        app.MapFanOut();
        app.MapFirehose();
        app.MapAnalytics();
        var authentication = app.Services.GetRequiredService<IOptions<SecurityOptions>>().Value.Authentication;
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            foreach (var address in addresses)
                Console.WriteLine($"Runnel Standalone listening on {address}");
            Console.WriteLine(authentication == AuthenticationMode.None
                ? "Authentication is off (Security:Authentication=None): allowed because Runnel listens on loopback only. Set Security:Authentication=SigV4 and a bootstrap key before listening elsewhere."
                : "Authentication is on (Security:Authentication=SigV4): requests must be signed with an access key.");
            Console.WriteLine($"Data folder: {app.Configuration["Runnel:DataDirectory"]} (delivery streams write to buckets/<bucket>/ in it unless S3:Endpoint is set)");
            if (app.Configuration[MasterKeyFileKey] is { } masterKeyFile)
                Console.WriteLine($"Master key (access key secrets, stream data keys) read from {masterKeyFile}, generated on first start: keep it with the data; without it encrypted streams cannot be read.");
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
            defaults["Runnel:IteratorSigningKey"] = LoadOrCreateKey(data, KeyFileName);
        if (string.IsNullOrWhiteSpace(config["Security:MasterKey"]))
        {
            defaults["Security:MasterKey"] = LoadOrCreateKey(data, MasterKeyFileName);
            defaults[MasterKeyFileKey] = Path.Combine(data, MasterKeyFileName);
        }
        defaults["Security:Authentication"] = AuthenticationFor(config);
        if (string.IsNullOrWhiteSpace(config["ShardStore:DataDirectory"]))
            defaults["ShardStore:DataDirectory"] = Path.Combine(data, "shards");
        if (string.IsNullOrWhiteSpace(config["ShardStore:NodeId"]))
            defaults["ShardStore:NodeId"] = "standalone";
        config.AddInMemoryCollection(defaults);
    }

    /// <summary>
    /// <c>None</c> unless asked otherwise while every listening address is loopback; <c>SigV4</c> otherwise. <c>None</c>
    /// asked for on any other address is refused: anyone on the network could then read, write and delete every stream.
    /// </summary>
    private static string AuthenticationFor(IConfiguration config)
    {
        var urls = ListenUrls(config);
        var exposed = urls.Where(u => !IsLoopback(u)).ToList();
        var asked = config["Security:Authentication"];
        if (string.IsNullOrWhiteSpace(asked))
            return exposed.Count == 0 ? nameof(AuthenticationMode.None) : nameof(AuthenticationMode.SigV4);
        if (Enum.TryParse<AuthenticationMode>(asked, ignoreCase: true, out var mode) && mode == AuthenticationMode.None && exposed.Count > 0)
            throw new StandaloneConfigurationException(
                $"Refusing to start: Security:Authentication=None while listening on {string.Join(", ", exposed)}; set Security:Authentication=SigV4 (with Security:BootstrapAccessKeyId and Security:BootstrapSecretAccessKey) or listen on loopback only.");
        return asked;
    }

    /// <summary>The addresses Kestrel will bind: <c>urls</c> (settings, --urls, ASPNETCORE_URLS) and Kestrel endpoints; its default is loopback.</summary>
    private static List<string> ListenUrls(IConfiguration config)
    {
        var urls = (config["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        urls.AddRange(config.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());
        if (!string.IsNullOrWhiteSpace(config["http_ports"]) || !string.IsNullOrWhiteSpace(config["https_ports"]))
            urls.Add("http://*:" + (config["http_ports"] ?? config["https_ports"]));
        return urls;
    }

    private static bool IsLoopback(string url)
    {
        var host = BindingAddress.Parse(url).Host;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    /// <summary>
    /// Iterators issued before a restart must stay valid and stored secrets must open again, so each key is generated
    /// once (256 random bits) and kept in the data folder, readable by the owner only.
    /// </summary>
    private static string LoadOrCreateKey(string data, string fileName)
    {
        var path = Path.Combine(data, fileName);
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

/// <summary>A setting Standalone refuses to start with; its message is one line that names the setting.</summary>
public sealed class StandaloneConfigurationException(string message) : Exception(message);
