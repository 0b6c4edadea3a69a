using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Runnel.ServiceDefaults.Dapr;

namespace Runnel.Gateway;

/// <summary>
/// Which handler serves an <c>X-Amz-Target</c>: the handlers registered in this process first, then, for every
/// known service that has none here, a forwarder to it when its address is configured (or Dapr is on).
/// </summary>
public sealed class AwsOperationTable
{
    private readonly IAwsOperations[] _handlers;

    public AwsOperationTable(IServiceProvider services)
    {
        var local = services.GetServices<IAwsOperations>().ToList();
        var configuration = services.GetRequiredService<IConfiguration>();
        var invocation = services.GetRequiredService<ServiceInvocation>();
        var clients = services.GetRequiredService<IHttpClientFactory>();
        foreach (var service in AwsServices.All)
        {
            if (local.Any(h => h.Service == service.Name))
                continue;
            var address = configuration[service.AddressKey];
            if (!string.IsNullOrWhiteSpace(address) || invocation.UsesDapr)
                local.Add(new RemoteAwsOperations(service, address, clients, invocation));
        }
        _handlers = [.. local];
    }

    /// <summary>The handler of <paramref name="target"/> and the operation it names, or null when none serves it.</summary>
    public IAwsOperations? Find(string target, out string operation)
    {
        // Prefixes of different services never prefix one another, so one name serves every handler that matches.
        string? name = null;
        foreach (var handler in _handlers)
        {
            if (!target.StartsWith(handler.TargetPrefix, StringComparison.Ordinal))
                continue;
            name ??= handler.NameOf(target.AsSpan(handler.TargetPrefix.Length));
            if (handler.Handles(name))
            {
                operation = name;
                return handler;
            }
        }
        operation = "";
        return null;
    }

    /// <summary>The handler of a service, local or forwarding, if this process can reach it at all.</summary>
    public IAwsOperations? Of(AwsService service) => _handlers.FirstOrDefault(h => h.Service == service.Name);

    public bool IsLocal(AwsService service) => Of(service) is { } h and not RemoteAwsOperations;
}
