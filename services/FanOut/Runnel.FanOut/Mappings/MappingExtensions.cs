using Microsoft.Extensions.Options;
using Runnel.ServiceDefaults.Outbound;

namespace Runnel.FanOut.Mappings;

public static class MappingExtensions
{
    /// <summary>The event-source-mapping API and, unless <c>FanOut:Mappings:DeliveryEnabled</c> is false, its delivery.</summary>
    public static IHostApplicationBuilder AddEventSourceMappings(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<MappingOptions>().BindConfiguration(MappingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<MappingSignal>();
        services.AddSingleton<MappingRegistry>();
        services.AddSingleton<MappingMetrics>();
        services.AddSingleton<FailureDestination>();
        services.AddHostedService<MappingDeliveryService>();
#pragma warning disable EXTEXP0001 // Experimental, but the only way to opt one client out of ConfigureHttpClientDefaults.
        // Retries, timeouts and bisection are the mapping's own policy: the client must not retry or time out by itself.
        services.AddSingleton(sp => new DestinationPolicy(sp.GetRequiredService<IOptions<MappingOptions>>().Value.AllowedHosts));
        services.AddHttpClient(MappingDeliveryService.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan).RemoveAllResilienceHandlers()
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler { ConnectCallback = sp.GetRequiredService<DestinationPolicy>().ConnectAsync });
#pragma warning restore EXTEXP0001
        return builder;
    }
}
