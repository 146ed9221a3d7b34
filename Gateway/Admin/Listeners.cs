using System.Net;
using Gateway.Http;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Admin;

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

/// <summary>Marks an endpoint as served only on the admin listener.</summary>
internal sealed class AdminListenerMetadata
{
    public static readonly AdminListenerMetadata Instance = new();
}

/// <summary>
/// Keeps admin endpoints off the proxy listener and proxy routes (and the proxy's fallback) off the
/// admin listener, during matching, so a catch-all YARP route still matches <c>/admin/...</c> on the proxy port.
/// A node-builder policy, like routing's own HTTP-method and host policies: the split is built into the
/// matcher's tables once, and a request costs one listener check, not a candidate set per request as an
/// endpoint-selector policy does.
/// </summary>
internal sealed class ListenerMatcherPolicy(Listeners listeners) : MatcherPolicy, INodeBuilderPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => endpoints.Count > 0;

    public IReadOnlyList<PolicyNodeEdge> GetEdges(IReadOnlyList<Endpoint> endpoints)
    {
        var admin = new List<Endpoint>();
        var proxy = new List<Endpoint>();
        foreach (var endpoint in endpoints)
        {
            (IsAdminOnly(endpoint) ? admin : proxy).Add(endpoint);
        }

        var edges = new List<PolicyNodeEdge>(2);
        if (admin.Count > 0)
        {
            edges.Add(new PolicyNodeEdge(true, admin));
        }

        if (proxy.Count > 0)
        {
            edges.Add(new PolicyNodeEdge(false, proxy));
        }

        return edges;
    }

    public PolicyJumpTable BuildJumpTable(int exitDestination, IReadOnlyList<PolicyJumpTableEdge> edges)
    {
        int admin = exitDestination, proxy = exitDestination;
        foreach (var edge in edges)
        {
            if ((bool)edge.State)
            {
                admin = edge.Destination;
            }
            else
            {
                proxy = edge.Destination;
            }
        }

        return new ListenerJumpTable(listeners, admin, proxy);
    }

    private static bool IsAdminOnly(Endpoint endpoint) => endpoint.Metadata.GetMetadata<AdminListenerMetadata>() is not null;

    private sealed class ListenerJumpTable(Listeners listeners, int admin, int proxy) : PolicyJumpTable
    {
        public override int GetDestination(HttpContext httpContext) => listeners.IsAdmin(httpContext) ? admin : proxy;
    }
}
