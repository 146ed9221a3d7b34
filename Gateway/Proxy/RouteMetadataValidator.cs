using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Usage;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Proxy;

/// <summary>
/// Rejects route metadata the gateway would misread, and a route whose cluster is not there: at start this stops the process; on a hot reload
/// YARP keeps the previous config and logs the error, so a typo never opens or closes a route silently.
/// </summary>
internal sealed class RouteMetadataValidator(IOptionsMonitor<GatewayOptions> options, IOptionsFactory<GatewayOptions> factory) : IProxyConfigFilter
{
    private static readonly IReadOnlyDictionary<string, string> NoMetadata = new Dictionary<string, string>();

    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => new(cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        var errors = new List<string>();

        // ASP.NET Core's authorization and CORS middleware are not in the gateway's pipeline (requests are
        // admitted by API key), so a route that asked for them would fail every request with a 500.
        if (!string.IsNullOrEmpty(route.AuthorizationPolicy) && !string.Equals(route.AuthorizationPolicy, "anonymous", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"ReverseProxy:Routes:{route.RouteId}:AuthorizationPolicy is not supported: the gateway admits requests by API key (route Metadata Anonymous, Environment and RequiredScopes).");
        }

        // Usage counts the verify API's calls that name no key under this route id: a route of the same id would share its row.
        if (string.Equals(route.RouteId, UsageCounters.VerifyRoute, StringComparison.Ordinal))
        {
            errors.Add($"ReverseProxy:Routes:{route.RouteId}: the route id {UsageCounters.VerifyRoute} is reserved (usage counts verify API calls under it); rename the route.");
        }

        if (!string.IsNullOrEmpty(route.CorsPolicy))
        {
            errors.Add($"ReverseProxy:Routes:{route.RouteId}:CorsPolicy is not supported: answer CORS preflights in the upstream.");
        }

        // YARP accepts a route whose cluster is not there and answers each of its requests with a bare 503 before
        // any stage of the gateway runs: no problem, no authentication, no request log. Removing a cluster that
        // routes still use is the same mistake, so such a reload is refused too.
        if (cluster is null)
        {
            errors.Add(string.IsNullOrEmpty(route.ClusterId)
                ? $"ReverseProxy:Routes:{route.RouteId}:ClusterId is not set: a route needs a cluster to forward to."
                : $"ReverseProxy:Routes:{route.RouteId}:ClusterId names '{route.ClusterId}', which is not a cluster under ReverseProxy:Clusters (or is itself invalid).");
        }

        var metadata = route.Metadata ?? NoMetadata;
        var gateway = options.CurrentValue;
        var prefix = $"ReverseProxy:Routes:{route.RouteId}:Metadata";

        foreach (var key in metadata.Keys)
        {
            if (!RoutePolicy.KnownKeys.Contains(key))
            {
                errors.Add($"{prefix}:{key} is not a route setting the gateway knows (known: {string.Join(", ", RoutePolicy.KnownKeys.Order(StringComparer.Ordinal))}).");
            }
        }

        if (metadata.TryGetValue(RoutePolicy.AnonymousKey, out var anonymous) && !bool.TryParse(anonymous, out _))
        {
            errors.Add($"{prefix}:{RoutePolicy.AnonymousKey} must be true or false (got '{anonymous}').");
        }

        if (metadata.TryGetValue(RoutePolicy.EnvironmentKey, out var environment) && !KeyEnvironments.IsValid(environment?.Trim()))
        {
            errors.Add($"{prefix}:{RoutePolicy.EnvironmentKey} must be production, staging or development (got '{environment}').");
        }

        if (metadata.TryGetValue(RoutePolicy.RequiredScopesKey, out var scopes))
        {
            foreach (var scope in RoutePolicy.SplitScopes(scopes))
            {
                if (!KeyRules.IsKnownScope(scope, gateway.Scopes) && !ComesWithThisReload(o => KeyRules.IsKnownScope(scope, o.Scopes)))
                {
                    errors.Add($"{prefix}:{RoutePolicy.RequiredScopesKey} names '{scope}', which is not in Gateway:Scopes.");
                }
            }
        }

        if (metadata.TryGetValue(RoutePolicy.RateLimitPolicyKey, out var policy)
            && !string.IsNullOrWhiteSpace(policy)
            && !gateway.RateLimits.Policies.ContainsKey(policy.Trim())
            && !ComesWithThisReload(o => o.RateLimits.Policies.ContainsKey(policy.Trim())))
        {
            errors.Add($"{prefix}:{RoutePolicy.RateLimitPolicyKey} names '{policy}', which is not under Gateway:RateLimits:Policies.");
        }

        if (metadata.TryGetValue(RoutePolicy.CostKey, out var cost) && !RoutePolicy.TryParseCost(cost, out _))
        {
            errors.Add($"{prefix}:{RoutePolicy.CostKey} must be a whole number from 0 to {RoutePolicy.MaxCost} (got '{cost}').");
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException(string.Join(" ", errors));
        }

        return new(route);
    }

    /// <summary>
    /// One edit of the file reloads the routes and the <c>Gateway</c> settings in either order, so a route naming a policy
    /// or requiring a scope the same edit adds may be checked before the settings bringing it are in force. It counts if
    /// those settings are valid (a reload of invalid ones is refused, and the policy or scope never comes).
    /// </summary>
    private bool ComesWithThisReload(Func<GatewayOptions, bool> holds)
    {
        try
        {
            return holds(factory.Create(Options.DefaultName));
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            return false;
        }
    }
}
