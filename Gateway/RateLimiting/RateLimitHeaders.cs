using Gateway.Http;

namespace Gateway.RateLimiting;

/// <summary>The <c>X-RateLimit-*</c> headers of one limit's state, and the seconds they and Retry-After count in.</summary>
internal static class RateLimitHeaders
{
    public static void Write(IHeaderDictionary headers, in LimitSpec spec, in LimitState state)
    {
        headers[RateLimitHeaderNames.Limit] = RateLimitNumberText.Limit(spec.PermitLimit);
        headers[RateLimitHeaderNames.Remaining] = RateLimitNumberText.Of(Math.Max(0, state.Remaining));
        headers[RateLimitHeaderNames.Reset] = RateLimitNumberText.Of(Seconds(state.ResetAfter));
    }

    /// <summary><c>X-Quota-*</c> when a customer quota applies, <c>X-Credits-Remaining</c> when the key has credits.</summary>
    public static void WriteQuotas(IHeaderDictionary headers, in QuotaBatch quotas)
    {
        for (var i = 0; i < quotas.Count; i++)
        {
            ref readonly var charge = ref quotas.Charges[i];
            if (charge.Kind == QuotaKind.Quota)
            {
                headers[QuotaHeaders.QuotaLimit] = RateLimitNumberText.Of(charge.Limit);
                headers[QuotaHeaders.QuotaRemaining] = RateLimitNumberText.Of(Math.Max(0, charge.Remaining));
                headers[QuotaHeaders.QuotaReset] = RateLimitNumberText.Of(Seconds((charge.ResetAt ?? quotas.Now) - quotas.Now));
            }
            else
            {
                headers[QuotaHeaders.CreditsRemaining] = RateLimitNumberText.Of(Math.Max(0, charge.Remaining));
            }
        }
    }

    /// <summary>Whole seconds, rounded up and at least 1: a client that waits this long will find a permit.</summary>
    public static long Seconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalSeconds));
}
