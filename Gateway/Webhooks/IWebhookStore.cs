using Gateway.Domain;

namespace Gateway.Webhooks;

/// <summary>
/// Webhooks and their delivery outbox: a table each in the embedded SQLite store, or keys under the Redis store's
/// prefix (hash tag <c>{webhooks}</c>). The outbox is what makes a restart lose nothing: an event is stored before
/// the call that caused it returns, and a delivery leaves the outbox only when delivered or given up.
/// </summary>
internal interface IWebhookStore
{
    Task CreateAsync(Webhook webhook, CancellationToken cancellationToken);

    Task<Webhook?> GetAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<Webhook>> ListAsync(string orgId, CancellationToken cancellationToken);

    Task UpdateAsync(Webhook webhook, CancellationToken cancellationToken);

    /// <summary>Removes the webhook and its deliveries; false when there was none.</summary>
    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);

    Task EnqueueAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken);

    /// <summary>
    /// Takes up to <paramref name="max"/> pending deliveries due at <paramref name="now"/> and moves their due time to
    /// <paramref name="leaseUntil"/> in one atomic step, so two instances never take the same delivery while the lease runs.
    /// </summary>
    Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken);

    /// <summary>Writes a delivery's state after an attempt (or a manual retry).</summary>
    Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken);

    /// <summary>The webhook's deliveries, newest first.</summary>
    Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string webhookId, int limit, CancellationToken cancellationToken);

    Task<WebhookDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken);

    /// <summary>Records <paramref name="mark"/> once: true for the first caller on any instance, false after.</summary>
    Task<bool> MarkOnceAsync(string mark, DateTimeOffset now, TimeSpan keepFor, CancellationToken cancellationToken);

    /// <summary>Appends an entry to the organization's audit log (the same one key changes are in).</summary>
    Task AuditAsync(AuditEntry entry, CancellationToken cancellationToken);
}
