using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.ServiceDefaults;

public static class DaprExtensions
{
    /// <summary>Binds and validates <see cref="DaprOptions"/> and registers <see cref="ServiceInvocation"/>.</summary>
    public static IHostApplicationBuilder AddDapr(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DaprOptions>()
            .BindConfiguration(DaprOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<ServiceInvocation>();
        return builder;
    }
}
