using Gateway.Domain;
using Gateway.Stores;

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

    /// <summary>
    /// A page of <see cref="ListAsync"/>'s list (created, then id): at most <paramref name="count"/> webhooks (null: all),
    /// those after <paramref name="after"/> only, so a webhook created or deleted between pages moves no other.
    /// </summary>
    Task<IReadOnlyList<Webhook>> ListAfterAsync(string orgId, TimeIdPosition? after, int? count, CancellationToken cancellationToken);

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

    /// <summary>
    /// At most <paramref name="limit"/> of the webhook's deliveries, newest first (created, then id, both descending), those
    /// after <paramref name="after"/> in that order only (null: from the newest), so a delivery made between pages moves no other.
    /// </summary>
    Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string webhookId, TimeIdPosition? after, int limit, CancellationToken cancellationToken);

    Task<WebhookDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken);

    /// <summary>Records <paramref name="mark"/> once: true for the first caller on any instance, false after.</summary>
    Task<bool> MarkOnceAsync(string mark, DateTimeOffset now, TimeSpan keepFor, CancellationToken cancellationToken);

    /// <summary>Appends an entry to the organization's audit log (the same one key changes are in).</summary>
    Task AuditAsync(AuditEntry entry, CancellationToken cancellationToken);
}
