using Microsoft.Extensions.Options;

namespace Runnel.ServiceDefaults.Dapr;

/// <summary>Chooses where a call to another Runnel service goes: through the Dapr sidecar or directly.</summary>
public sealed class ServiceInvocation(IOptions<DaprOptions> options)
{
    public bool UsesDapr => options.Value.Enabled;

    /// <summary>
    /// Base address for calls to <paramref name="appId"/>. With Dapr enabled it is the sidecar's invoke
    /// route, <c>{HttpEndpoint}/v1.0/invoke/{appId}/method/</c>, so a relative path such as
    /// <c>shards/append</c> resolves to the same method on the peer; otherwise <paramref name="directAddress"/>.
    /// The result always ends with '/', because relative URIs drop the last segment of a base without one.
    /// </summary>
    public Uri BaseAddressFor(string appId, string directAddress)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(appId);
        ArgumentException.ThrowIfNullOrWhiteSpace(directAddress);
        var address = options.Value.Enabled
            ? $"{options.Value.HttpEndpoint.TrimEnd('/')}/v1.0/invoke/{Uri.EscapeDataString(appId)}/method/"
            : directAddress;
        return new Uri(address.EndsWith('/') ? address : address + "/", UriKind.Absolute);
    }
}
