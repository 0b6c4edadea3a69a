using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Runnel.Metadata.Migrator;

/// <summary>
/// <c>migrate</c>: applies the metadata migrations and exits 0, or exits 1 with the reason on stderr.
/// Configuration comes from environment variables and <c>--Key=value</c> arguments
/// (<c>ConnectionStrings:Metadata</c>, <c>Metadata:Provider</c>, <c>Migrator:WaitSeconds</c>).
/// </summary>
public static class MigratorCommand
{
    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken = default)
    {
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddConfiguration(configuration.GetSection("Logging"))
            .AddSimpleConsole(o => o.SingleLine = true)
            // EF logs every DDL statement at Information; keep the job log to what the migrator decides.
            .AddFilter("Microsoft.EntityFrameworkCore", LogLevel.Warning)
            // A database that does not exist yet is logged as a connection error before Migrate creates it.
            .AddFilter("Microsoft.EntityFrameworkCore.Database.Connection", LogLevel.None));
        var log = loggerFactory.CreateLogger("Runnel.Metadata.Migrator");

        ServiceProvider services;
        try
        {
            services = new ServiceCollection()
                .AddSingleton(loggerFactory)
                .AddRunnelMetadata(configuration)
                .BuildServiceProvider();
        }
        catch (InvalidOperationException ex)
        {
            log.LogError("{Message}", ex.Message);
            return 1;
        }

        await using (services)
        {
            // A hook Job can start before the database accepts connections; wait for it, boundedly.
            var wait = TimeSpan.FromSeconds(configuration.GetValue("Migrator:WaitSeconds", 60));
            var clock = Stopwatch.StartNew();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var applied = await MetadataMigrations.MigrateAsync(services, cancellationToken).ConfigureAwait(false);
                    log.LogInformation(applied.Count == 0
                        ? "Metadata store is up to date."
                        : "Applied {Count} migration(s): {Migrations}", applied.Count, string.Join(", ", applied));
                    return 0;
                }
                catch (Exception ex) when (IsTransient(ex) && clock.Elapsed < wait && !cancellationToken.IsCancellationRequested)
                {
                    log.LogWarning("Metadata store not reachable yet (attempt {Attempt}): {Message}", attempt, ex.Message);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(5, attempt)), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    log.LogError(ex, "Migration failed.");
                    return 1;
                }
            }
        }
    }

    /// <summary>Connection-level failures are worth retrying; a failing migration script is not.</summary>
    private static bool IsTransient(Exception ex) => ex switch
    {
        Npgsql.NpgsqlException { IsTransient: true } => true,
        System.Net.Sockets.SocketException => true,
        TimeoutException => true,
        _ when ex.InnerException is not null => IsTransient(ex.InnerException),
        _ => false,
    };
}
