using Microsoft.AspNetCore.Routing.Matching;

namespace Gateway.Http;

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
