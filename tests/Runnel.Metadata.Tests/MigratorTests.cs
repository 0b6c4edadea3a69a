using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Runnel.TestKit;

namespace Runnel.Metadata.Tests;

/// <summary>The Migrator as the Helm hook Job runs it: its own process, configured by arguments, judged by exit code.</summary>
public sealed class MigratorTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(int ExitCode, string Output)> RunMigratorAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(RepositoryPaths.ServiceAssembly("Runnel.Metadata.Migrator"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"Migrator did not exit within {RunTimeout.TotalSeconds} s.");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Migrates_an_empty_postgres_database_and_is_idempotent()
    {
        await using var database = await PostgresDatabase.CreateAsync("migrator", Ct);
        string[] args = [$"--ConnectionStrings:Metadata={database.ConnectionString}", "--Metadata:Provider=Postgres"];

        var first = await RunMigratorAsync(args);
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Contains("Applied", first.Output);

        var second = await RunMigratorAsync(args);
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("up to date", second.Output);

        var options = new DbContextOptionsBuilder<PostgresMetadataDbContext>().UseNpgsql(database.ConnectionString).Options;
        await using var db = new PostgresMetadataDbContext(options);
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync(Ct));
        Assert.Equal(0, await db.Streams.CountAsync(Ct));
    }

    [Fact]
    public async Task Creates_the_postgres_database_when_it_does_not_exist()
    {
        var server = await TestServers.PostgresAsync();
        var name = $"runnel_migrator_new_{Guid.NewGuid().ToString("N")[..12]}";
        var target = new NpgsqlConnectionStringBuilder(server) { Database = name, Pooling = false }.ConnectionString;
        try
        {
            var run = await RunMigratorAsync($"--ConnectionStrings:Metadata={target}", "--Metadata:Provider=Postgres");
            Assert.True(run.ExitCode == 0, run.Output);
        }
        finally
        {
            await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres", Pooling = false }.ConnectionString);
            await admin.OpenAsync(Ct);
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync(Ct);
        }
    }

    [Fact]
    public async Task Migrates_a_sqlite_file_in_a_new_folder()
    {
        using var directory = new TempDirectory("runnel-migrator");
        var file = Path.Combine(directory.Path, "nested", "metadata.db");
        string[] args = [$"--ConnectionStrings:Metadata=Data Source={file}", "--Metadata:Provider=Sqlite"];

        var first = await RunMigratorAsync(args);
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.True(File.Exists(file));

        var second = await RunMigratorAsync(args);
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("up to date", second.Output);
    }

    [Fact]
    public async Task Fails_with_exit_code_1_when_the_server_is_unreachable()
    {
        var closedPort = FreePorts.Get();
        var run = await RunMigratorAsync(
            $"--ConnectionStrings:Metadata=Host=127.0.0.1;Port={closedPort};Username=postgres;Database=runnel;Timeout=2",
            "--Metadata:Provider=Postgres",
            "--Migrator:WaitSeconds=1");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("Migration failed", run.Output);
    }

    [Fact]
    public async Task Fails_with_exit_code_1_without_a_connection_string()
    {
        var run = await RunMigratorAsync("--Metadata:Provider=Postgres");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("ConnectionStrings:Metadata", run.Output);
    }
}
