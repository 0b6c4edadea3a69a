using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Runnel.Core.Wire;
using Runnel.ServiceDefaults.Internal;

namespace Runnel.Gateway;

public static class GatewayExtensions
{
    /// <summary>Registers the operation table and the forwarding client (the public endpoint's host calls this).</summary>
    public static IServiceCollection AddAwsGateway(this IServiceCollection services)
    {
        services.TryAddSingleton<AwsOperationTable>();
#pragma warning disable EXTEXP0001 // Experimental, but the only way to opt one client out of ConfigureHttpClientDefaults.
        // A forwarded SubscribeToShard streams for up to 5 minutes and no forwarded call is retried (it may not be
        // idempotent): no overall timeout, no resilience handlers.
        services.AddInternalEndpointServices();
        services.AddHttpClient(RemoteAwsOperations.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan).RemoveAllResilienceHandlers().AddInternalToken();
#pragma warning restore EXTEXP0001
        return services;
    }

    /// <summary>Registers a service's operations so the gateway in this process serves them.</summary>
    public static IServiceCollection AddAwsOperations<THandler>(this IServiceCollection services) where THandler : class, IAwsOperations
    {
        services.TryAddSingleton<THandler>();
        services.AddSingleton<IAwsOperations>(sp => sp.GetRequiredService<THandler>());
        return services;
    }

    /// <summary>
    /// The route a deployed gateway forwards this service's operations to (<see cref="AwsService.RoutePath"/>): the same
    /// target header, media type and body as the public request, and the principal the gateway authenticated. It trusts
    /// that principal, so it is served only on the internal listener.
    /// </summary>
    public static IEndpointConventionBuilder MapAwsOperationsRoute<THandler>(this IEndpointRouteBuilder app) where THandler : class, IAwsOperations
    {
        var handler = app.ServiceProvider.GetRequiredService<THandler>();
        var service = AwsServices.Named(handler.Service);
        var logger = app.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GatewayExtensions).FullName!);
        return app.MapPost(service.RoutePath, async (HttpContext http) =>
        {
            http.Response.Headers["x-amzn-RequestId"] = RequestIds.Next();
            var (format, contentType, _) = WireDocument.Detect(http.Request.ContentType);
            AwsAnswers.RememberContentType(http, contentType);
            var target = http.Request.Headers["X-Amz-Target"].ToString();
            var operation = target.StartsWith(handler.TargetPrefix, StringComparison.Ordinal) ? target[handler.TargetPrefix.Length..] : "";
            if (!handler.Handles(operation))
            {
                await AwsFrontDoor.RefuseUnknownOperationAsync(http, format);
                return;
            }
            var principal = http.Request.Headers[AwsGateway.PrincipalHeader].ToString() is { Length: > 0 } p ? p : "anonymous";
            byte[]? body = null;
            try
            {
                await AwsGateway.GuardAsync(http, format, operation, logger, async () =>
                {
                    var length = 0;
                    (body, length) = await AwsGateway.ReadBodyAsync(http);
                    await AwsGateway.InvokeAsync(http, handler, operation, format, body.AsMemory(0, length), _ => ValueTask.FromResult(principal), logger);
                });
            }
            finally
            {
                if (body is not null)
                    AwsGateway.ReturnBody(body);
            }
        }).ExcludeFromDescription().RequireInternal();
    }
}
