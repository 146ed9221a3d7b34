using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Common;

/// <summary>
/// A loopback port where nothing listens, held for the test: the socket is bound but never listens, so a
/// connection is refused, and no other server of the test run can take the port meanwhile. A port found by
/// starting a listener and stopping it again could be taken by another test's server before it was dialled.
/// </summary>
public sealed class ClosedPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public ClosedPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}/";

    public void Dispose() => _socket.Dispose();
}
