using System.Globalization;
using Gateway.Observability;
using Gateway.Http;

namespace Gateway.RateLimiting;

/// <summary>The 429 of either limit stage.</summary>
internal static class RateLimitRejection
{
    /// <summary>
    /// Names the refused limit with the longest wait, and Retry-After is that wait: a client that waits
    /// that long finds a permit in every limit that refused it.
    /// </summary>
    public static Task WriteAsync(HttpContext context, RateLimitFeature feature, int from, int to, GatewayMetrics metrics)
    {
        var index = feature.LongestRefused(from, to);
        var spec = feature.Spec(index);
        for (var i = from; i < to; i++)
        {
            if (!feature.State(i).Allowed)
            {
                metrics.LimitDecision(feature.Spec(i).KindName, allowed: false);
            }
        }

        feature.Report(index);
        context.Response.Headers.RetryAfter = RateLimitHeaders.Seconds(feature.State(index).ResetAfter).ToString(CultureInfo.InvariantCulture);
        return GatewayProblem.WriteAsync(
            context,
            ProblemCodes.RateLimited,
            $"The {spec.KindName} limit of {spec.PermitLimit} requests per {spec.Window} is used up.",
            json => json.WriteString("limit", spec.KindName));
    }
}
