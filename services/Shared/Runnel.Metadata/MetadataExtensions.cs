using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Runnel.Metadata;

public static class MetadataExtensions
{
    /// <summary>
    /// Registers <see cref="IDbContextFactory{MetadataDbContext}"/> for the configured provider. Services
    /// resolve the factory, never a provider-specific context, so one code path serves both stores.
    /// </summary>
    public static IServiceCollection AddRunnelMetadata(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(MetadataOptions.Section).Get<MetadataOptions>() ?? new MetadataOptions();
        var connectionString = configuration.GetConnectionString("Metadata")
            ?? throw new InvalidOperationException("ConnectionStrings:Metadata is not set.");
        services.Configure<MetadataOptions>(configuration.GetSection(MetadataOptions.Section));
        switch (options.Provider)
        {
            case MetadataProvider.Sqlite:
                services.AddDbContextFactory<SqliteMetadataDbContext>(o => o.UseSqlite(connectionString));
                services.AddSingleton<IDbContextFactory<MetadataDbContext>>(sp =>
                    new UpcastFactory<SqliteMetadataDbContext>(sp.GetRequiredService<IDbContextFactory<SqliteMetadataDbContext>>()));
                break;
            case MetadataProvider.Postgres:
                services.AddDbContextFactory<PostgresMetadataDbContext>(o => o.UseNpgsql(connectionString));
                services.AddSingleton<IDbContextFactory<MetadataDbContext>>(sp =>
                    new UpcastFactory<PostgresMetadataDbContext>(sp.GetRequiredService<IDbContextFactory<PostgresMetadataDbContext>>()));
                break;
            default:
                throw new InvalidOperationException($"Unknown metadata provider {options.Provider}.");
        }
        return services;
    }

    private sealed class UpcastFactory<T>(IDbContextFactory<T> inner) : IDbContextFactory<MetadataDbContext>
        where T : MetadataDbContext
    {
        public MetadataDbContext CreateDbContext() => inner.CreateDbContext();
    }
}
