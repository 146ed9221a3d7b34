using Gateway.Auth;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Stores;

namespace Gateway.RateLimiting;

/// <summary>
/// Second limit stage, after key authentication: charges the workspace (or route policy), customer and per-key
/// limits, the customer's quota and the key's credits together, or none of them (<see cref="LimitCharger"/>).
/// When one of them refuses, the IP permit taken by <see cref="IpRateLimitMiddleware"/> is given back too, so a
/// refused request consumes nothing of any limit and a locked-out client recovers.
/// </summary>
internal sealed class RequestRateLimitMiddleware(
    RequestDelegate next,
    IRateLimitCounter counter,
    LimitCharger charger,
    GatewayMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.Feature<RateLimitFeature>()
            ?? throw new InvalidOperationException("UseRateLimits must come after UseIpRateLimit in the proxy pipeline.");

        // The key authentication stage sets the key's feature only for a request it let in.
        if (context.Feature<IApiKeyFeature>()?.Key is not { } key)
        {
            if (!feature.IpDeferred)
            {
                Allowed(feature);
                return next(context); // anonymous route: only the IP limit applies
            }

            return Anonymous(context, feature);
        }

        // A deferred IP permit is charged here, in the same store trip as the other limits.
        var route = RoutePolicy.For(context.ProxyFeature().Route.Config);
        var from = feature.IpDeferred ? LimitSlot.Ip : LimitSlot.AfterIp;
        var decision = charger.ChargeAsync(feature, key, route.RateLimitPolicy, route.Cost, from, context.RequestAborted);
        return decision.IsCompletedSuccessfully
            ? Continue(context, feature, decision.Result)
            : AwaitAsync(context, feature, decision);
    }

    private Task Anonymous(HttpContext context, RateLimitFeature feature)
    {
        var decision = counter.AcquireAsync(feature, LimitSlot.Ip, context.RequestAborted);
        return decision.IsCompletedSuccessfully
            ? Continue(context, feature, decision.Result ? ChargeOutcome.Allowed : ChargeOutcome.RateLimited)
            : AwaitAnonymousAsync(context, feature, decision);
    }

    private async Task AwaitAnonymousAsync(HttpContext context, RateLimitFeature feature, ValueTask<bool> decision) =>
        await Continue(context, feature, await decision ? ChargeOutcome.Allowed : ChargeOutcome.RateLimited);

    private async Task AwaitAsync(HttpContext context, RateLimitFeature feature, ValueTask<ChargeOutcome> decision)
    {
        ChargeOutcome outcome;
        try
        {
            outcome = await decision;
        }
        catch (StoreUnavailableException)
        {
            // The key's customer (its shared limit and quota) could not be read: a request that cannot be checked is
            // never let through. The limits fall back to per-instance counting on their own; this is the one lookup
            // with no such fallback. Nothing was charged, and the IP permit goes back.
            var deferred = feature.IpDeferred;
            counter.Release(feature, LimitSlot.Ip, deferred ? LimitSlot.Ip : LimitSlot.AfterIp);
            feature.IpDeferred = false;
            if (!deferred)
            {
                feature.GaveBack(LimitSlot.Ip, LimitSlot.AfterIp);
                feature.Report(LimitSlot.Ip);
            }

            await feature.GivenBackAsync();
            context.Response.Headers.RetryAfter = "1";
            await GatewayProblem.WriteAsync(context, ProblemCodes.StoreUnavailable, "The key's customer could not be read; retry shortly.", null);
            return;
        }

        await Continue(context, feature, outcome);
    }

    private Task Continue(HttpContext context, RateLimitFeature feature, ChargeOutcome outcome)
    {
        var from = feature.IpDeferred ? LimitSlot.Ip : LimitSlot.AfterIp;
        feature.IpDeferred = false;
        if (outcome != ChargeOutcome.Allowed)
        {
            counter.Release(feature, LimitSlot.Ip, from);
            var givenBack = feature.GivenBackAsync();
            return givenBack.IsCompletedSuccessfully ? Refuse(context, feature, outcome, from) : RefuseWhenGivenBackAsync(givenBack, context, feature, outcome, from);
        }

        Allowed(feature);
        feature.Report(LimitSlot.Ip, feature.Count);
        return next(context);
    }

    private Task Refuse(HttpContext context, RateLimitFeature feature, ChargeOutcome outcome, int from) =>
        outcome == ChargeOutcome.RateLimited
            ? RateLimitRejection.WriteAsync(context, feature, from, feature.Count, metrics)
            : QuotaRejection.WriteAsync(context, feature, outcome, metrics);

    /// <summary>
    /// Permits of small limits and quota units the refused request took went back to Redis: the client hears of the
    /// refusal once they are back, so its next request, on any instance, finds them there.
    /// </summary>
    private async Task RefuseWhenGivenBackAsync(ValueTask givenBack, HttpContext context, RateLimitFeature feature, ChargeOutcome outcome, int from)
    {
        await givenBack;
        await Refuse(context, feature, outcome, from);
    }

    private void Allowed(RateLimitFeature feature)
    {
        for (var i = 0; i < feature.Count; i++)
        {
            metrics.LimitDecision(feature.Spec(i).KindName, allowed: true);
        }
    }
}
