using System.Net;
using System.Net.Sockets;

namespace Runnel.Standalone;

/// <summary>Checks made before the server starts, so that a common mistake gets one line instead of a stack trace.</summary>
internal static class StartupChecks
{
    public const string PickAnotherPort = "Pick another port with --urls http://127.0.0.1:<port> (or ASPNETCORE_URLS).";

    /// <summary>
    /// One line naming the first configured address whose port another process listens on, or null. Addresses given by
    /// host name are left to the server; port 0 asks for any free port.
    /// </summary>
    public static string? PortInUse(string? urls)
    {
        foreach (var url in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                continue;
            }
            if (address.Port == 0 || ProbeAddress(address.Host) is not { } ip)
                continue;
            using var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            // Lets the probe bind over connections still in TIME_WAIT, as Kestrel does; a listener still refuses it.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            try
            {
                socket.Bind(new IPEndPoint(ip, address.Port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                return $"Cannot listen on {url}: port {address.Port} is already in use. {PickAnotherPort}";
            }
            catch (SocketException)
            {
                // Not an address of this machine, or not permitted: the server reports that itself.
            }
        }
        return null;
    }

    private static IPAddress? ProbeAddress(string host) => host switch
    {
        "*" or "+" or "0.0.0.0" => IPAddress.Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.TryParse(host.Trim('[', ']'), out var ip) ? ip : null,
    };
}
