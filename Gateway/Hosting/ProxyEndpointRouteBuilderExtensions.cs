using Gateway.AccessLog;
using Gateway.Auth;
using Gateway.IpAllowlist;
using Gateway.Proxy;
using Gateway.RateLimiting;

namespace Gateway.Hosting;

public static class ProxyEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the YARP routes with the gateway's pipeline (in the order docs/proxy.md gives), on the proxy
    /// listener only. A request no route matches is answered by <see cref="UnmatchedRequestMiddleware"/>.
    /// </summary>
    public static IEndpointRouteBuilder MapGatewayProxy(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapReverseProxy(proxy =>
        {
            proxy.UseProxyOutcome();
            proxy.UseSpan("gateway.ip_limit", stage => stage.UseIpRateLimit());
            proxy.UseSpan("gateway.authenticate", stage => stage.UseKeyAuthentication().UseKeyIpAllowlist());
            proxy.UseSpan("gateway.rate_limit", stage => stage.UseRateLimits());
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
            proxy.UseAccessLogUpstreamTimer();
        });
        return endpoints;
    }
}
