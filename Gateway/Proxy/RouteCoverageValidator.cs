using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Proxy;

/// <summary>
/// Refuses a reload of the <c>Gateway</c> settings that takes away a rate-limit policy a route in force still names, or
/// a scope it still requires. The route check (<see cref="RouteMetadataValidator"/>) runs only when the routes reload,
/// so without this a policy removed from <c>Gateway:RateLimits:Policies</c> alone was accepted and its routes fell back
/// to the workspace limit, and a scope removed from <c>Gateway:Scopes</c> alone left routes requiring a scope no key
/// could be given any more, where a start with the same file is refused.
/// </summary>
/// <param name="proxy">The <c>ReverseProxy</c> section YARP loads its routes from.</param>
internal sealed class RouteCoverageValidator(RoutesInForce inForce, IConfiguration proxy) : IValidateOptions<GatewayOptions>
{
    private readonly IConfigurationSection _routes = proxy.GetSection("Routes");

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        List<string>? errors = null;
        foreach (var (routeId, route, fromConfiguration) in inForce.Routes)
        {
            // One edit of the file reloads these settings and the routes, in either order: a configured route that the
            // same edit removes, or stops naming the policy or requiring the scope, goes with it, and the route check
            // judges what replaces it.
            if (route.RateLimitPolicy is { } policy && !options.RateLimits.Policies.ContainsKey(policy)
                && (!fromConfiguration || _routes[$"{routeId}:Metadata:{RoutePolicy.RateLimitPolicyKey}"]?.Trim() == policy))
            {
                (errors ??= []).Add($"{GatewayOptions.SectionName}:RateLimits:Policies has no '{policy}', which ReverseProxy:Routes:{routeId}:Metadata:{RoutePolicy.RateLimitPolicyKey} names.");
            }

            foreach (var scope in route.RequiredScopes)
            {
                if (!KeyRules.IsKnownScope(scope, options.Scopes)
                    && (!fromConfiguration || RoutePolicy.SplitScopes(_routes[$"{routeId}:Metadata:{RoutePolicy.RequiredScopesKey}"]).Contains(scope, StringComparer.Ordinal)))
                {
                    (errors ??= []).Add($"{GatewayOptions.SectionName}:Scopes has no '{scope}', which ReverseProxy:Routes:{routeId}:Metadata:{RoutePolicy.RequiredScopesKey} requires.");
                }
            }
        }

        return errors is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
