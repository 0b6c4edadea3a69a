using System.Net;
using System.Net.Sockets;

namespace Runnel.TestKit;

/// <summary>Loopback TCP ports that were free a moment ago (the OS picks them: bind to port 0).</summary>
public static class FreePorts
{
    public static int Get() => Get(1)[0];

    /// <summary>Distinct ports: every socket stays bound until all are picked, so none repeats.</summary>
    public static int[] Get(int count)
    {
        var sockets = new List<Socket>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            }

            return sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }
}
