using Gateway.Http;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Proxy;

/// <summary>
/// The rate-limit policies the routes in force name, as YARP last applied them, for
/// <see cref="RoutePolicyCoverageValidator"/>. Empty until the first routes are applied, so at start the route check
/// itself (<see cref="RouteMetadataValidator"/>) is the one that names a missing policy.
/// </summary>
/// <param name="proxy">The <c>ReverseProxy</c> section YARP loads its routes from.</param>
internal sealed class RoutePoliciesInForce(IConfiguration proxy) : IConfigChangeListener
{
    private readonly IConfigurationSection _routes = proxy.GetSection("Routes");
    private volatile IReadOnlyList<NamedPolicy> _named = [];

    /// <summary>A route in force and the policy it names; <paramref name="FromConfiguration"/>: the route is one of <c>ReverseProxy:Routes</c>, not added in code.</summary>
    internal readonly record struct NamedPolicy(string RouteId, string Policy, bool FromConfiguration);

    public IReadOnlyList<NamedPolicy> Named => _named;

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
        var named = new List<NamedPolicy>();
        foreach (var config in proxyConfigs)
        {
            foreach (var route in config.Routes)
            {
                if (RoutePolicy.For(route).RateLimitPolicy is { } policy)
                {
                    named.Add(new NamedPolicy(route.RouteId, policy, _routes.GetSection(route.RouteId).Exists()));
                }
            }
        }

        _named = named;
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
