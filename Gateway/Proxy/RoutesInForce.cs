using Gateway.Http;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Proxy;

/// <summary>
/// The routes in force that name a rate-limit policy or require scopes, as YARP last applied them, for the checks of a
/// <c>Gateway</c> reload against them (<see cref="RouteCoverageValidator"/>).
/// Empty until the first routes are applied, so at start the route check itself (<see cref="RouteMetadataValidator"/>)
/// is the one that names a missing policy or scope.
/// </summary>
/// <param name="proxy">The <c>ReverseProxy</c> section YARP loads its routes from.</param>
internal sealed class RoutesInForce(IConfiguration proxy) : IConfigChangeListener
{
    private readonly IConfigurationSection _routes = proxy.GetSection("Routes");
    private volatile IReadOnlyList<RouteInForce> _routesInForce = [];

    /// <summary>A route in force and the gateway's reading of its metadata; <paramref name="FromConfiguration"/>: the route is one of <c>ReverseProxy:Routes</c>, not added in code.</summary>
    internal readonly record struct RouteInForce(string RouteId, RoutePolicy Policy, bool FromConfiguration);

    public IReadOnlyList<RouteInForce> Routes => _routesInForce;

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
        var routes = new List<RouteInForce>();
        foreach (var config in proxyConfigs)
        {
            foreach (var route in config.Routes)
            {
                var policy = RoutePolicy.For(route);
                if (policy.RateLimitPolicy is not null || policy.RequiredScopes.Count > 0)
                {
                    routes.Add(new RouteInForce(route.RouteId, policy, _routes.GetSection(route.RouteId).Exists()));
                }
            }
        }

        _routesInForce = routes;
    }

    // A refused or failed load leaves the previous routes in force, and so what they name.
    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
    }
}
