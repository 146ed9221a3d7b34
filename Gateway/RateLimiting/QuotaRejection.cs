using System.Globalization;
using Gateway.Http;
using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>The 429 of a used-up quota (<c>quota_exceeded</c>) or of used-up credits (<c>credits_exhausted</c>).</summary>
internal static class QuotaRejection
{
    public static Task WriteAsync(HttpContext context, RateLimitFeature feature, ChargeOutcome outcome, GatewayMetrics metrics)
    {
        var kind = outcome == ChargeOutcome.CreditsExhausted ? QuotaKind.Credits : QuotaKind.Quota;
        var charge = feature.Quotas.Charges[feature.Quotas.IndexOf(kind)];
        metrics.LimitDecision(kind == QuotaKind.Quota ? "quota" : "credits", allowed: false);

        // Each rate limit was charged a permit before the quota or credits refused, and has it back now.
        feature.GaveBack(LimitSlot.Ip, feature.Count);
        feature.Report(LimitSlot.Ip, feature.Count);

        // Retry-After only when waiting helps: a quota's period ends; credits come back only with a refill.
        if (charge.ResetAt is { } reset)
        {
            context.Response.Headers.RetryAfter = RateLimitHeaders.Seconds(reset - feature.Quotas.Now).ToString(CultureInfo.InvariantCulture);
        }

        return kind == QuotaKind.Quota
            ? GatewayProblem.WriteAsync(context, ProblemCodes.QuotaExceeded, $"The quota of {charge.Limit} is used up until {Format(charge.ResetAt)}.", null)
            : GatewayProblem.WriteAsync(context, ProblemCodes.CreditsExhausted, "The key's credits are used up.", null);
    }

    private static string Format(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "";
}
