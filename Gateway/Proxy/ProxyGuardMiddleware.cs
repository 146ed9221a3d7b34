using Gateway.Http;
using Gateway.Observability;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Proxy;

/// <summary>
/// First stage of the proxy pipeline: removes client copies of identity headers on every route
/// (anonymous ones included), turns YARP's bare 502/503/504 into problem+json, and counts the outcome.
/// </summary>
internal sealed class ProxyGuardMiddleware(RequestDelegate next, GatewayMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context)
    {
        IdentityHeaders.RemoveClientCopies(context.Request.Headers);

        await next(context);

        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is not null && !context.Response.HasStarted)
        {
            if (error.Error is ForwarderError.RequestTimedOut || context.Response.StatusCode == StatusCodes.Status504GatewayTimeout)
            {
                await GatewayProblem.WriteAsync(context, StatusCodes.Status504GatewayTimeout, "upstream_timeout", "Upstream timeout", "The upstream did not answer in time.");
            }
            else
            {
                await GatewayProblem.WriteAsync(context, StatusCodes.Status502BadGateway, "upstream_unreachable", "Upstream unreachable", "The upstream could not be reached.");
            }
        }

        var route = context.GetReverseProxyFeature().Route.Config.RouteId;
        metrics.Request(route, context.Response.StatusCode, Outcome(context, error));
    }

    // ProxiedDestination is set by YARP only when the request was actually sent upstream.
    private static string Outcome(HttpContext context, IForwarderErrorFeature? error) => error is not null
        ? "upstream_error"
        : context.GetReverseProxyFeature().ProxiedDestination is not null ? "forwarded" : "rejected";
}
