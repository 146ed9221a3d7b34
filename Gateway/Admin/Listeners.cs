using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Admin;

/// <summary>
/// Remembers the Kestrel <c>Admin</c> and <c>Proxy</c> endpoints so a request can be told apart by the
/// local port it arrived on (never by the Host header, which the client controls).
/// </summary>
internal sealed class Listeners
{
    public const string AdminName = "Admin";
    public const string ProxyName = "Proxy";

    internal ListenOptions? Admin { get; set; }

    internal ListenOptions? Proxy { get; set; }

    /// <summary>The bound port of the admin listener (the real one when configured with port 0).</summary>
    public int? AdminPort => Admin?.IPEndPoint?.Port;

    public int? ProxyPort => Proxy?.IPEndPoint?.Port;

    public bool IsAdmin(HttpContext context) => AdminPort is { } port && context.Connection.LocalPort == port;
}

/// <summary>Marks an endpoint as served only on the admin listener.</summary>
internal sealed class AdminListenerMetadata
{
    public static readonly AdminListenerMetadata Instance = new();
}

/// <summary>
/// Keeps admin endpoints off the proxy listener and proxy routes (and the proxy's fallback) off the
/// admin listener, during matching, so a catch-all YARP route still matches <c>/admin/...</c> on the proxy port.
/// </summary>
internal sealed class ListenerMatcherPolicy(Listeners listeners) : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => true;

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var onAdmin = listeners.IsAdmin(httpContext);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i)
                && (candidates[i].Endpoint.Metadata.GetMetadata<AdminListenerMetadata>() is not null) != onAdmin)
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }
}
