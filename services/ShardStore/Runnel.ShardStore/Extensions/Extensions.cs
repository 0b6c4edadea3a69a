using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Runnel.Core.Security;
using Runnel.Core.Storage;
using Runnel.Metadata;
using Runnel.ServiceDefaults;
using Runnel.ShardStore.Apis;
using Runnel.ShardStore.Client;
using Runnel.ShardStore.Encryption;
using Runnel.ShardStore.Engine;
using Runnel.ShardStore.Fencing;
using Runnel.ShardStore.Health;
using Runnel.ShardStore.Registration;

namespace Runnel.ShardStore;

public static class Extensions
{
    /// <summary>The ShardStore node host: the node (<see cref="AddShardStoreNode"/>) plus its dependency readiness checks.</summary>
    public static IHostApplicationBuilder AddShardStore(this IHostApplicationBuilder builder)
    {
        builder.Services.AddShardStoreNode(builder.Configuration);
        builder.Services.AddHostedService<MasterKeyCheck>();
        builder.AddRunnelDependencyChecks();
        // Four Information lines per internal call from the hosting and routing layers cost a third of a node's CPU
        // under load; they stay available by configuring Logging:LogLevel:Microsoft.AspNetCore.
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        return builder;
    }

    /// <summary>
    /// Registers a ShardStore node in this process: the engine (<see cref="ShardLogStore"/>), the fencing decorator
    /// (<see cref="FencedShardStore"/>, the node's <c>IShardStore</c>), the <c>store_nodes</c> registration and
    /// heartbeat, a readiness check of the data directory, the shard-store client (locator and planner), and this
    /// node as the locator's local node so in-process callers skip the network. Standalone calls this directly.
    /// </summary>
    public static IServiceCollection AddShardStoreNode(this IServiceCollection services, IConfiguration configuration)
    {
        if (services.Any(d => d.ServiceType == typeof(FencedShardStore)))
            return services;
        services.AddOptions<ShardStoreOptions>()
            .BindConfiguration(ShardStoreOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (!services.Any(d => d.ServiceType == typeof(IDbContextFactory<MetadataDbContext>)))
            services.AddRunnelMetadata(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new MasterKeySealer(sp.GetRequiredService<IConfiguration>()[MasterKeySealer.ConfigurationKey]));
        services.AddSingleton<MetadataKeyring>();
        services.AddSingleton<IStreamKeyChanges>(sp => sp.GetRequiredService<MetadataKeyring>());
        services.AddSingleton(sp => new ShardLogStore(
            sp.GetRequiredService<IOptions<ShardStoreOptions>>().Value.ToEngineOptions(sp.GetRequiredService<TimeProvider>()) with
            {
                Keyring = sp.GetRequiredService<MetadataKeyring>(),
            },
            sp.GetRequiredService<ILogger<ShardLogStore>>()));
        services.AddSingleton<FencedShardStore>();
        services.AddSingleton(sp => new LocalShardStoreNode(
            sp.GetRequiredService<IOptions<ShardStoreOptions>>().Value.NodeId,
            sp.GetRequiredService<FencedShardStore>()));
        services.AddSingleton<NodeRegistrationService>();
        services.AddHostedService(sp => sp.GetRequiredService<NodeRegistrationService>());
        services.AddShardStoreClient(configuration);
        services.AddHealthChecks()
            .AddCheck<DataDirectoryHealthCheck>("shardstore-data", HealthStatus.Unhealthy, [ServiceDefaults.Extensions.ReadyTag], TimeSpan.FromSeconds(3));
        return services;
    }

    /// <summary>Maps the internal shard endpoints (<c>/internal/shards/...</c>).</summary>
    public static WebApplication MapShardStore(this WebApplication app)
    {
        app.MapShardStoreApi();
        return app;
    }
}
