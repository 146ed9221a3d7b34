using System.Diagnostics.Metrics;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Proxy;
using Gateway.Usage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Common;

/// <summary>
/// The proxy pipeline's first stage over the rest of a pipeline, as UseProxyOutcome builds it: the stage through
/// which the request log and the access log see a request.
/// </summary>
internal static class ProxyOutcomeStage
{
    public static Func<HttpContext, Task> Over(RequestDelegate next, TimeProvider time, UsageCounters? usage = null, params IProxyRequestObserver[] observers)
    {
        var metrics = new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
        var middleware = new ProxyOutcomeMiddleware(
            next,
            metrics,
            new StaticOptionsMonitor<GatewayOptions>(new GatewayOptions()),
            usage,
            observers,
            time,
            NullLogger<ProxyOutcomeMiddleware>.Instance);
        return middleware.InvokeAsync;
    }
}
