using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Proxy;

/// <summary>
/// Refuses a reload of the <c>Gateway</c> settings that takes away a rate-limit policy a route in force still names.
/// The route check (<see cref="RouteMetadataValidator"/>) runs only when the routes reload, so without this a policy
/// removed from <c>Gateway:RateLimits:Policies</c> alone was accepted and its routes fell back to the workspace limit,
/// where a start with the same file is refused.
/// </summary>
/// <param name="proxy">The <c>ReverseProxy</c> section YARP loads its routes from.</param>
internal sealed class RoutePolicyCoverageValidator(RoutesInForce inForce, IConfiguration proxy) : IValidateOptions<GatewayOptions>
{
    private readonly IConfigurationSection _routes = proxy.GetSection("Routes");

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        List<string>? errors = null;
        foreach (var (routeId, route, fromConfiguration) in inForce.Routes)
        {
            if (route.RateLimitPolicy is not { } policy || options.RateLimits.Policies.ContainsKey(policy))
            {
                continue;
            }

            // One edit of the file reloads these settings and the routes, in either order: a configured route that the
            // same edit removes, or points elsewhere, goes with it, and the route check judges what replaces it.
            if (fromConfiguration && _routes[$"{routeId}:Metadata:{RoutePolicy.RateLimitPolicyKey}"]?.Trim() != policy)
            {
                continue;
            }

            (errors ??= []).Add($"{GatewayOptions.SectionName}:RateLimits:Policies has no '{policy}', which ReverseProxy:Routes:{routeId}:Metadata:{RoutePolicy.RateLimitPolicyKey} names.");
        }

        return errors is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
