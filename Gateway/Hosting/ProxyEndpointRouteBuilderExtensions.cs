using Gateway.AccessLog;
using Gateway.Auth;
using Gateway.Http;
using Gateway.IpAllowlist;
using Gateway.Observability;
using Gateway.Proxy;
using Gateway.RateLimiting;

namespace Gateway.Hosting;

public static class ProxyEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the YARP routes with the gateway's pipeline (in the order docs/proxy.md gives) and a problem+json
    /// <c>no_route</c> fallback, on the proxy listener only.
    /// </summary>
    public static IEndpointRouteBuilder MapGatewayProxy(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapReverseProxy(proxy =>
        {
            proxy.UseAccessLog();
            proxy.UseProxyGuard();
            proxy.UseSpan("gateway.ip_limit", stage => stage.UseIpRateLimit());
            proxy.UseSpan("gateway.authenticate", stage => stage.UseKeyAuthentication().UseKeyIpAllowlist());
            proxy.UseSpan("gateway.rate_limit", stage => stage.UseRateLimits());
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
            proxy.UseAccessLogUpstreamTimer();
        });

        endpoints.MapFallback("{**path}", (HttpContext context, GatewayMetrics metrics) =>
        {
            metrics.Request("(none)", StatusCodes.Status404NotFound, "no_route");
            return GatewayProblem.WriteAsync(context, StatusCodes.Status404NotFound, "no_route", "No route", "No route matches this request.");
        });
        return endpoints;
    }
}
