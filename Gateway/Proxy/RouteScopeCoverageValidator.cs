using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Proxy;

/// <summary>
/// Refuses a reload of the <c>Gateway</c> settings that takes away a scope a route in force still requires. The route
/// check (<see cref="RouteMetadataValidator"/>) runs only when the routes reload, so without this a scope removed from
/// <c>Gateway:Scopes</c> alone was accepted: no key could be given it any more, its routes stayed in force requiring it,
/// and a start with the same file is refused.
/// </summary>
/// <param name="proxy">The <c>ReverseProxy</c> section YARP loads its routes from.</param>
internal sealed class RouteScopeCoverageValidator(RoutesInForce inForce, IConfiguration proxy) : IValidateOptions<GatewayOptions>
{
    private readonly IConfigurationSection _routes = proxy.GetSection("Routes");

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        List<string>? errors = null;
        foreach (var (routeId, route, fromConfiguration) in inForce.Routes)
        {
            foreach (var scope in route.RequiredScopes)
            {
                if (KeyRules.IsKnownScope(scope, options.Scopes))
                {
                    continue;
                }

                // As for policies: a configured route that the same edit removes, or stops requiring this scope, goes with
                // it whichever section reloads first, and the route check judges what replaces it.
                if (fromConfiguration && !RoutePolicy.SplitScopes(_routes[$"{routeId}:Metadata:{RoutePolicy.RequiredScopesKey}"]).Contains(scope, StringComparer.Ordinal))
                {
                    continue;
                }

                (errors ??= []).Add($"{GatewayOptions.SectionName}:Scopes has no '{scope}', which ReverseProxy:Routes:{routeId}:Metadata:{RoutePolicy.RequiredScopesKey} requires.");
            }
        }

        return errors is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
