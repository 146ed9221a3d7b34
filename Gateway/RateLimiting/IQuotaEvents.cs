using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>
/// Crossings of quotas and credits, each reported once (not per request): a quota reaching 80% and 100% of
/// its period's limit, a key's credits running out. The default implementation logs them; webhooks replace it.
/// </summary>
internal interface IQuotaEvents
{
    /// <summary>A customer's quota reached <paramref name="percent"/> (80 or 100) of its limit; <paramref name="keyId"/> made the request that crossed it.</summary>
    void ThresholdReached(string org, string? customerId, string? keyId, int percent);

    void CreditsExhausted(string org, string keyId);
}

internal sealed partial class LoggingQuotaEvents(ILogger<LoggingQuotaEvents> logger) : IQuotaEvents
{
    public void ThresholdReached(string org, string? customerId, string? keyId, int percent) => Log.Threshold(logger, org, customerId, keyId, percent);

    public void CreditsExhausted(string org, string keyId) => Log.Exhausted(logger, org, keyId);

    private static partial class Log
    {
        [LoggerMessage(EventIds.QuotaThresholdReached, LogLevel.Information, "Quota of customer {CustomerId} in organization {Org} reached {Percent}% (request by key {KeyId}).")]
        public static partial void Threshold(ILogger logger, string org, string? customerId, string? keyId, int percent);

        [LoggerMessage(EventIds.CreditsExhausted, LogLevel.Information, "Credits of key {KeyId} in organization {Org} are used up.")]
        public static partial void Exhausted(ILogger logger, string org, string keyId);
    }
}

/// <summary>Which crossings a counter moving from <c>before</c> to <c>after</c> makes, written once for both counters.</summary>
internal static class QuotaCrossings
{
    public static void Report(IQuotaEvents events, in QuotaCharge charge, long before, long after, bool givenBack = false)
    {
        // What is given back does not stay counted, so it crosses nothing.
        if (givenBack)
        {
            after -= charge.Cost;
        }

        if (after <= before || charge.Limit <= 0)
        {
            return;
        }

        if (charge.Kind == QuotaKind.Credits)
        {
            if (before < charge.Limit && after >= charge.Limit)
            {
                events.CreditsExhausted(charge.OrgId, charge.KeyId);
            }

            return;
        }

        // 80% rounded up: a quota of 10 reports at 8, of 1 at 1 (and then 100% too).
        var eighty = (charge.Limit * 4 + 4) / 5;
        if (before < eighty && after >= eighty)
        {
            events.ThresholdReached(charge.OrgId, charge.CustomerId, charge.KeyId, 80);
        }

        if (before < charge.Limit && after >= charge.Limit)
        {
            events.ThresholdReached(charge.OrgId, charge.CustomerId, charge.KeyId, 100);
        }
    }
}
