using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Runnel.TestKit;

namespace Runnel.Metadata.Tests;

/// <summary>A migrated, empty metadata store of one provider, owned by one test class.</summary>
public abstract class MetadataStoreFixture : IAsyncLifetime
{
    private ServiceProvider? _services;

    public abstract MetadataProvider Provider { get; }

    public string ConnectionString { get; private set; } = "";

    /// <summary>Migrations that the first <see cref="MetadataMigrations.MigrateAsync"/> reported as applied.</summary>
    public IReadOnlyList<string> AppliedOnCreate { get; private set; } = [];

    public IDbContextFactory<MetadataDbContext> Factory => _services!.GetRequiredService<IDbContextFactory<MetadataDbContext>>();

    public IServiceProvider Services => _services!;

    public MetadataDbContext CreateContext() => Factory.CreateDbContext();

    protected abstract Task<string> CreateStoreAsync();

    protected abstract ValueTask DropStoreAsync();

    public async ValueTask InitializeAsync()
    {
        ConnectionString = await CreateStoreAsync();
        _services = new ServiceCollection()
            .AddRunnelMetadata(new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Metadata:Provider"] = Provider.ToString(),
                    ["ConnectionStrings:Metadata"] = ConnectionString,
                })
                .Build())
            .BuildServiceProvider();
        AppliedOnCreate = await MetadataMigrations.MigrateAsync(_services, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }
        await DropStoreAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class PostgresStoreFixture : MetadataStoreFixture
{
    private PostgresDatabase? _database;

    public override MetadataProvider Provider => MetadataProvider.Postgres;

    protected override async Task<string> CreateStoreAsync()
    {
        _database = await PostgresDatabase.CreateAsync("metadata");
        return _database.ConnectionString;
    }

    protected override async ValueTask DropStoreAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

public sealed class SqliteStoreFixture : MetadataStoreFixture
{
    private readonly TempDirectory _directory = new("runnel-metadata");

    public override MetadataProvider Provider => MetadataProvider.Sqlite;

    /// <summary>A folder that does not exist yet, as on Standalone's first start.</summary>
    protected override Task<string> CreateStoreAsync() =>
        Task.FromResult($"Data Source={Path.Combine(_directory.Path, "data", "metadata.db")};Pooling=False");

    protected override ValueTask DropStoreAsync()
    {
        _directory.Dispose();
        return ValueTask.CompletedTask;
    }
}
