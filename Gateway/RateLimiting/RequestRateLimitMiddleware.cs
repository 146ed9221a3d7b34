using Gateway.Http;
using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>
/// Second limit stage, after key authentication: charges the workspace (or route policy) and per-key
/// limits together, or none of them. When one of them refuses, the IP permit taken by
/// <see cref="IpRateLimitMiddleware"/> is given back too, so a refused request consumes no permit of
/// any limit and a locked-out client recovers.
/// </summary>
internal sealed class RequestRateLimitMiddleware(
    RequestDelegate next,
    IRateLimitCounter counter,
    RateLimitPolicyResolver policies,
    GatewayMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Feature<RateLimitFeature>()
            ?? throw new InvalidOperationException("UseRateLimits must come after UseIpRateLimit in the proxy pipeline.");
        policies.AddRequestLimits(context, feature);
        if (feature.Count == LimitSlot.AfterIp && !feature.IpDeferred)
        {
            Allowed(feature);
            return next(context); // anonymous route: only the IP limit applies
        }

        // A deferred IP permit is charged here, in the same store trip as the other limits.
        var decision = counter.AcquireAsync(feature, feature.IpDeferred ? LimitSlot.Ip : LimitSlot.AfterIp, context.RequestAborted);
        return decision.IsCompletedSuccessfully
            ? Continue(context, feature, decision.Result)
            : AwaitAsync(context, feature, decision);
    }

    private async Task AwaitAsync(HttpContext context, RateLimitFeature feature, ValueTask<bool> decision) =>
        await Continue(context, feature, await decision);

    private Task Continue(HttpContext context, RateLimitFeature feature, bool allowed)
    {
        var from = feature.IpDeferred ? LimitSlot.Ip : LimitSlot.AfterIp;
        feature.IpDeferred = false;
        if (!allowed)
        {
            counter.Release(feature, LimitSlot.Ip, from);
            return RateLimitRejection.WriteAsync(context, feature, from, feature.Count, metrics);
        }

        Allowed(feature);
        feature.Report(LimitSlot.Ip, feature.Count);
        return next(context);
    }

    private void Allowed(RateLimitFeature feature)
    {
        for (var i = 0; i < feature.Count; i++)
        {
            metrics.LimitDecision(feature.Spec(i).KindName, allowed: true);
        }
    }
}
