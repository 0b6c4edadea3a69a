using Runnel.FanOut.Apis;
using Runnel.ServiceDefaults;

namespace Runnel.FanOut;

/// <summary>Enhanced fan-out: pushes shard records to registered consumers over HTTP/2.</summary>
public static class Extensions
{
    /// <summary>Registers the module. Assumes <c>AddServiceDefaults</c> ran; safe to compose with other modules.</summary>
    public static IHostApplicationBuilder AddFanOut(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<FanOutOptions>()
            .BindConfiguration(FanOutOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(new FanOutStartTime(TimeProvider.System.GetUtcNow()));
        builder.AddRunnelDependencyChecks();
        return builder;
    }

    public static IEndpointRouteBuilder MapFanOut(this IEndpointRouteBuilder app) => app.MapFanOutApi();
}
