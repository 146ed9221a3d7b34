using Gateway.Http;
using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>
/// First limit stage, before key authentication: takes one permit of the client IP's limit, atomically,
/// before the key is looked at. So N concurrent requests with unknown keys from one IP cause at most
/// the IP limit's number of store reads, and a request counts from the moment it is let in: one that
/// is refused by authentication, or aborted by its client, keeps its permit. Only
/// <see cref="RequestRateLimitMiddleware"/> gives it back, when a later limit refuses the request
/// (all or nothing).
/// </summary>
/// <remarks>
/// With shared (Redis) limits the IP permit may be deferred: taken under a per-instance guard now and
/// charged in Redis with the request's other limits, so a request costs at most one store trip. A
/// request that never reaches the request stage has its deferred permit charged in the finally.
/// </remarks>
internal sealed class IpRateLimitMiddleware(
    RequestDelegate next,
    IRateLimitCounter counter,
    RateLimitPolicyResolver policies,
    ClientIpResolver ips,
    GatewayMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feature = RateLimitFeature.For(context, reuse: !counter.HoldsBatches);
        feature.Add(policies.Ip(ips.Resolve(context)));
        switch (counter.AcquireIp(feature))
        {
            case IpDecision.Refused:
                return RateLimitRejection.WriteAsync(context, feature, LimitSlot.Ip, LimitSlot.AfterIp, metrics);
            case IpDecision.Deferred:
                feature.IpDeferred = true;
                context.SetFeature(feature);
                feature.Report(LimitSlot.Ip);
                return DeferredAsync(context, feature);
            default:
                context.SetFeature(feature);
                feature.Report(LimitSlot.Ip);
                return next(context);
        }
    }

    private async Task DeferredAsync(HttpContext context, RateLimitFeature feature)
    {
        try
        {
            await next(context);
        }
        finally
        {
            if (feature.IpDeferred)
            {
                counter.SettleDeferredIp(feature);
            }
        }
    }
}
