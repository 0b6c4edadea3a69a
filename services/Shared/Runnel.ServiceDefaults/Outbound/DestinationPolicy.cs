using System.Net;
using System.Net.Sockets;

namespace Runnel.ServiceDefaults.Outbound;

/// <summary>
/// Which hosts the platform may call on a user's behalf (event source mapping functions, later delivery
/// destinations). With hosts listed, only those are called (an entry <c>*.example.com</c> covers its subdomains). A
/// host that is not listed must resolve to public addresses only: loopback, link-local, private, shared (carrier-grade
/// NAT) and unspecified ranges are where the cluster's own services live, so a request there would let anyone with API
/// access reach them. The check runs when the destination is given and again on every connection, against the
/// addresses the connection uses, so a name that later resolves inward is refused too.
/// </summary>
public sealed class DestinationPolicy(IReadOnlyCollection<string> allowedHosts)
{
    public bool IsListed(string host) => allowedHosts.Any(entry =>
        entry.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(entry[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(entry, host, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// How a user names a function (an event source mapping's FunctionName, a delivery stream's Lambda processor): the
    /// absolute http(s) URL of the receiver, at most 2048 characters. Null when <paramref name="text"/> is not one.
    /// </summary>
    public static Uri? HttpUrl(string text) =>
        text.Length <= 2048 && Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) ? uri : null;

    /// <summary>Null when <paramref name="destination"/> may be called; otherwise why not, for the caller's error.</summary>
    public async Task<string?> RefusalAsync(Uri destination, CancellationToken ct)
    {
        var host = destination.IdnHost;
        if (IsListed(host))
            return null;
        if (allowedHosts.Count > 0)
            return $"the host {host} is not one of the allowed hosts";
        IPAddress[] addresses;
        try
        {
            addresses = await ResolveAsync(host, ct).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return $"the host {host} does not resolve";
        }
        return addresses.FirstOrDefault(IsInternal) is { } inward
            ? $"the host {host} resolves to {inward}, an internal address (loopback, link-local or private); an operator can allow it by listing the host"
            : null;
    }

    /// <summary>
    /// For <see cref="SocketsHttpHandler.ConnectCallback"/>: connects to the first address of the host that the policy
    /// allows, and refuses the connection when there is none.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var listed = IsListed(host);
        if (!listed && allowedHosts.Count > 0)
            throw new HttpRequestException($"The host {host} is not one of the allowed hosts.");
        var addresses = await ResolveAsync(host, ct).ConfigureAwait(false);
        var allowed = listed ? addresses : [.. addresses.Where(a => !IsInternal(a))];
        if (allowed.Length == 0)
            throw new HttpRequestException($"The host {host} resolves only to internal addresses, which are not allowed.");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) =>
        IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);

    /// <summary>Loopback, link-local, private (RFC 1918, unique local), shared (RFC 6598), unspecified and multicast.</summary>
    public static bool IsInternal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6None))
            return true;
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var v6 = address.GetAddressBytes();
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (v6[0] & 0xFE) == 0xFC;
        }
        var b = address.GetAddressBytes();
        return b[0] is 0 or 10 or 127 || b[0] >= 224
            || (b[0] == 169 && b[1] == 254)
            || (b[0] == 172 && b[1] is >= 16 and <= 31)
            || (b[0] == 192 && b[1] == 168)
            || (b[0] == 100 && b[1] is >= 64 and <= 127);
    }
}
