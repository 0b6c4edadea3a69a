using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Runnel.ServiceDefaults.Connections;

/// <summary>Applies <see cref="ConnectionOptions"/> to Kestrel.</summary>
internal sealed class ConnectionLimits(IOptions<ConnectionOptions> options) : IConfigureOptions<KestrelServerOptions>
{
    public void Configure(KestrelServerOptions server)
    {
        var o = options.Value;
        server.Limits.MaxConcurrentConnections = o.EffectiveMaxConcurrentConnections();
        // An upgraded connection (an HTTP/2 stream is not one) holds its socket as long as an ordinary one.
        server.Limits.MaxConcurrentUpgradedConnections = server.Limits.MaxConcurrentConnections;
        server.Limits.RequestHeadersTimeout = o.RequestHeadersTimeout;
    }
}
