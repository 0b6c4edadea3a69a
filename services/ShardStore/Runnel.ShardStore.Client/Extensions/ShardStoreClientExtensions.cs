using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Runnel.Core.Storage;
using Runnel.ServiceDefaults.Dapr;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.ShardStore.Client;

public static class ShardStoreClientExtensions
{
    /// <summary>
    /// Registers <see cref="IShardStoreLocator"/> (in-process store for local nodes, HTTP elsewhere, through Dapr when
    /// <c>Dapr:Enabled</c>), <see cref="NodeAddressBook"/> and <see cref="PlacementPlanner"/>. Needs
    /// <c>IDbContextFactory&lt;MetadataDbContext&gt;</c> (AddRunnelMetadata) for node addresses. Idempotent.
    /// </summary>
    public static IServiceCollection AddShardStoreClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(ShardStoreLocator)))
            return services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<DaprOptions>().BindConfiguration(DaprOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ServiceInvocation>();
        services.TryAddSingleton<NodeAddressBook>();
        services.AddInternalEndpointServices();
        services.TryAddSingleton<PlacementPlanner>();
#pragma warning disable EXTEXP0001 // Experimental, but the only way to opt one client out of ConfigureHttpClientDefaults.
        services.AddHttpClient(ShardStoreLocator.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(30))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                AutomaticDecompression = System.Net.DecompressionMethods.None,
            })
            // Appends are not idempotent: a retried append after a lost response would store the records twice.
            // Callers (Ingest) decide about retries with the contract's exceptions in hand.
            .RemoveAllResilienceHandlers()
            .AddInternalToken();
#pragma warning restore EXTEXP0001
        // The HttpClient factory logs four Information lines per request to a node (as many as records in a small
        // PutRecord); they stay available by configuring this category's level.
        var clientLogCategory = "System.Net.Http.HttpClient." + ShardStoreLocator.HttpClientName;
        if (configuration["Logging:LogLevel:" + clientLogCategory] is null)
            services.AddLogging(logging => logging.AddFilter(clientLogCategory, LogLevel.Warning));
        services.AddSingleton<ShardStoreLocator>();
        services.AddSingleton<IShardStoreLocator>(sp => sp.GetRequiredService<ShardStoreLocator>());
        return services;
    }
}
