using System.Net;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Http;

/// <summary>
/// Remembers the Kestrel <c>Admin</c> and <c>Proxy</c> endpoints so a request can be told apart by the
/// listener that accepted its connection (never by the Host header, which the client controls). Each
/// connection is tagged by the endpoint that accepted it, so two listeners that share a port on different
/// addresses (proxy on a public address, admin on 127.0.0.1) are still told apart.
/// </summary>
internal sealed class Listeners
{
    public const string AdminName = "Admin";
    public const string ProxyName = "Proxy";

    private static readonly object ListenerItem = new();

    private ListenOptions? _admin;

    internal ListenOptions? Admin
    {
        get => _admin;
        set
        {
            _admin = value;
            value?.Use(next => connection =>
            {
                connection.Items[ListenerItem] = AdminName;
                return next(connection);
            });
        }
    }

    internal ListenOptions? Proxy { get; set; }

    /// <summary>The bound port of the admin listener (the real one when configured with port 0).</summary>
    public int? AdminPort => Admin?.IPEndPoint?.Port;

    public int? ProxyPort => Proxy?.IPEndPoint?.Port;

    public bool IsAdmin(HttpContext context)
    {
        if (context.Feature<IConnectionItemsFeature>()?.Items is { } items)
        {
            return items.TryGetValue(ListenerItem, out var name) && ReferenceEquals(name, AdminName);
        }

        // No connection items (a server other than Kestrel): match the local address and port.
        return Admin?.IPEndPoint is { } admin
            && context.Connection.LocalPort == admin.Port
            && context.Connection.LocalIpAddress is { } local
            && (admin.Address.Equals(IPAddress.Any) || admin.Address.Equals(IPAddress.IPv6Any) || Same(local, admin.Address));
    }

    private static bool Same(IPAddress a, IPAddress b) =>
        (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Equals(b.IsIPv4MappedToIPv6 ? b.MapToIPv4() : b);
}
