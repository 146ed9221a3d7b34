using System.Globalization;
using System.Runtime.CompilerServices;
using Gateway.Http;
using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>
/// Two stages of the proxy pipeline (in the order docs/rate-limits.md gives):
/// <list type="number">
/// <item><see cref="IpStageAsync"/>, before key authentication: a client IP with no permit left is refused
/// before its key is looked at, so floods of bad keys never reach the store. A request that then fails
/// authentication is charged to its IP (that is what makes the flood guard work) and to nothing else.</item>
/// <item><see cref="RequestStageAsync"/>, after authentication: the IP, workspace (or route policy) and
/// per-key limits are charged all together or not at all; a refused request consumes no permit of any
/// limit, so a locked-out client recovers.</item>
/// </list>
/// </summary>
internal sealed class RateLimitMiddleware(IRateLimitCounter counter, RateLimitPolicyResolver policies, ClientIpResolver ips, GatewayMetrics metrics)
{
    private static readonly object StateKey = new();
    private static readonly object HeadersKey = new();

    public async Task IpStageAsync(HttpContext context, RequestDelegate next)
    {
        var ip = policies.Ip(ips.Resolve(context).ToString());
        var decision = await counter.PeekAsync([ip], context.RequestAborted);
        if (!decision.Allowed)
        {
            await RejectAsync(context, decision);
            return;
        }

        var state = new StageState(ip);
        context.Items[StateKey] = state;
        WriteHeaders(context, decision.Tightest);

        await next(context);

        if (!state.Charged && context.Response.StatusCode is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden)
        {
            await counter.AcquireAsync([ip], CancellationToken.None);
        }
    }

    public async Task RequestStageAsync(HttpContext context, RequestDelegate next)
    {
        var state = (StageState)context.Items[StateKey]!;
        var decision = await counter.AcquireAsync(policies.ForRequest(context, state.Ip), context.RequestAborted);
        state.Charged = true;
        if (!decision.Allowed)
        {
            await RejectAsync(context, decision);
            return;
        }

        foreach (var limit in decision.States)
        {
            metrics.LimitDecision(limit.Spec.Kind, allowed: true);
        }

        WriteHeaders(context, decision.Tightest);
        await next(context);
    }

    private Task RejectAsync(HttpContext context, LimitDecision decision)
    {
        var rejected = decision.Rejected!.Value;
        metrics.LimitDecision(rejected.Spec.Kind, allowed: false);
        WriteHeaders(context, rejected);
        context.Response.Headers.RetryAfter = Seconds(rejected.ResetAfter).ToString(CultureInfo.InvariantCulture);
        return GatewayProblem.WriteAsync(
            context,
            StatusCodes.Status429TooManyRequests,
            "rate_limited",
            "Too many requests",
            $"The {rejected.Spec.Kind} limit of {rejected.Spec.PermitLimit} requests per {rejected.Spec.Window} is used up.",
            json => json.WriteString("limit", rejected.Spec.Kind));
    }

    /// <summary>
    /// Records the state to report; the headers are written as the response starts, after YARP has copied
    /// the upstream's headers, so an upstream's own X-RateLimit-* can neither replace nor duplicate ours.
    /// </summary>
    private static void WriteHeaders(HttpContext context, LimitState state)
    {
        if (context.Items[HeadersKey] is StrongBox<LimitState> box)
        {
            box.Value = state;
            return;
        }

        box = new StrongBox<LimitState>(state);
        context.Items[HeadersKey] = box;
        context.Response.OnStarting(static s =>
        {
            var (response, reported) = ((HttpResponse, StrongBox<LimitState>))s;
            var headers = response.Headers;
            headers["X-RateLimit-Limit"] = reported.Value.Spec.PermitLimit.ToString(CultureInfo.InvariantCulture);
            headers["X-RateLimit-Remaining"] = Math.Max(0, reported.Value.Remaining).ToString(CultureInfo.InvariantCulture);
            headers["X-RateLimit-Reset"] = Seconds(reported.Value.ResetAfter).ToString(CultureInfo.InvariantCulture);
            return Task.CompletedTask;
        }, (context.Response, box));
    }

    /// <summary>Whole seconds, rounded up and at least 1: a client that waits this long will find a permit.</summary>
    private static long Seconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalSeconds));

    private sealed class StageState(LimitSpec ip)
    {
        public LimitSpec Ip { get; } = ip;

        public bool Charged { get; set; }
    }
}
