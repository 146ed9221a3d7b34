using Gateway.RateLimiting;

namespace Gateway.Webhooks;

/// <summary>
/// Turns the quota counters' crossings into <c>quota.threshold</c> and <c>credits.exhausted</c> deliveries, and still
/// logs them. The counters report from the request path, so the outbox write runs in the background: a slow store
/// delays the event, never the request, and <see cref="IWebhookPublisher"/> never throws.
/// </summary>
internal sealed class WebhookQuotaEvents(LoggingQuotaEvents log, IServiceProvider services) : IQuotaEvents
{
    // Resolved on the first event, not with the counters that report here: the publisher reads those counters for
    // the key object's live balance, so taking it in the constructor would make the two depend on each other.
    private IWebhookPublisher Publisher => field ??= services.GetRequiredService<IWebhookPublisher>();

    public void ThresholdReached(string org, string? customerId, string? keyId, int percent)
    {
        log.ThresholdReached(org, customerId, keyId, percent);
        _ = Task.Run(() => Publisher.QuotaThresholdReachedAsync(org, customerId, keyId, percent, CancellationToken.None));
    }

    public void CreditsExhausted(string org, string keyId)
    {
        log.CreditsExhausted(org, keyId);
        _ = Task.Run(() => Publisher.CreditsExhaustedAsync(org, keyId, CancellationToken.None));
    }
}
