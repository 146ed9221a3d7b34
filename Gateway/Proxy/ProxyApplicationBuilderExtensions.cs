using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Usage;
using Microsoft.Extensions.Options;

namespace Gateway.Proxy;

public static class ProxyApplicationBuilderExtensions
{
    /// <summary>
    /// Drops client headers with '_' in their names when <c>DropHeadersWithUnderscores</c> is on (identity headers are
    /// removed by the identity transform), maps upstream failures to problem+json, and records each request's
    /// outcome (metrics, usage counts unless <c>Gateway:Usage:Enabled</c> is false, and the request log and the access
    /// log when they are on). Must come first in the proxy pipeline, so that it sees the final status.
    /// </summary>
    public static IApplicationBuilder UseProxyOutcome(this IApplicationBuilder builder)
    {
        var services = builder.ApplicationServices;
        var usage = UsageServiceCollectionExtensions.CountsUsage(services) ? services.GetRequiredService<UsageCounters>() : null;
        var metrics = services.GetRequiredService<GatewayMetrics>();
        var options = services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();
        var observers = services.GetServices<IProxyRequestObserver>().Where(o => o.IsEnabled).ToArray();
        var time = services.GetRequiredService<TimeProvider>();
        var logger = services.GetRequiredService<ILogger<ProxyOutcomeMiddleware>>();
        return builder.Use(next => new ProxyOutcomeMiddleware(next, metrics, options, usage, observers, time, logger).InvokeAsync);
    }
}
