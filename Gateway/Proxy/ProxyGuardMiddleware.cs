using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Usage;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// First stage of the proxy pipeline: drops client headers with '_' in their names when asked to,
/// turns YARP's bare 502/503/504 into problem+json, and then records the outcome once the answer is
/// final: the request metric and, unless usage counting is off, the usage count. Both are recorded here, after one wait for the forwarder, rather than each in a stage of its
/// own that would wait for it again.
/// </summary>
internal sealed class ProxyGuardMiddleware(RequestDelegate next, GatewayMetrics metrics, IOptionsMonitor<GatewayOptions> options, UsageCounters? usage)
{
    public Task InvokeAsync(HttpContext context)
    {
        // Identity headers are removed from the upstream request (IdentityTransformProvider); this option also
        // drops any client header with '_' in its name, which a route transform must still be able to set.
        if (options.CurrentValue.DropHeadersWithUnderscores)
        {
            IdentityHeaders.RemoveClientCopies(context.Request.Headers, dropUnderscoreNames: true);
        }

        // A refusal by a later stage completes synchronously: record it without an async frame.
        var task = next(context);
        if (task.IsCompletedSuccessfully && context.Feature<IForwarderErrorFeature>() is null)
        {
            Record(context, error: null);
            return Task.CompletedTask;
        }

        return FinishAsync(task, context);
    }

    private async Task FinishAsync(Task task, HttpContext context)
    {
        await task;

        var error = context.Feature<IForwarderErrorFeature>();
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

        Record(context, error);
    }

    private void Record(HttpContext context, IForwarderErrorFeature? error)
    {
        var route = context.ProxyFeature().Route.Config.RouteId;
        metrics.Request(route, context.Response.StatusCode, Outcome(context, error));
        usage?.Record(context);
    }

    // ProxiedDestination is set by YARP only when the request was actually sent upstream.
    private static string Outcome(HttpContext context, IForwarderErrorFeature? error) => error is not null
        ? "upstream_error"
        : context.ProxyFeature().ProxiedDestination is not null ? "forwarded" : "rejected";
}
