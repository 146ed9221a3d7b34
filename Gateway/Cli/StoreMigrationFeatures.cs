using System.Globalization;
using Gateway.Customers;
using Gateway.Operators;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Webhooks;
using StackExchange.Redis;

namespace Gateway.Cli;

/// <summary>
/// The part of <c>migrate-store</c> beyond orgs, keys and audit: operator (admin API) tokens, customers, webhook
/// endpoints with their delivery history and pending deliveries, and quota and credit counters. Without them a gateway moved to Redis would lock its operators out (their tokens unknown), drop every
/// customer's quota and plan (keys naming a customer nobody registered are unlimited) and stop sending webhooks.
/// Each item is created on Redis when missing and otherwise left as Redis has it (Redis is where changes are made
/// once gateways run on it), with one exception: a token revoked in SQLite is revoked on Redis too.
/// </summary>
internal static class StoreMigrationFeatures
{
    /// <summary>The deliveries copied per webhook, newest first: the history Redis keeps per webhook.</summary>
    internal const int DeliveriesPerWebhook = 1000;

    public static async Task<FeatureTotals> CopyAsync(
        MigrationProgress progress,
        IGatewayStore source,
        IOperatorTokenStore sourceTokens,
        ICustomerStore sourceCustomers,
        IWebhookStore sourceWebhooks,
        SqliteQuotaCounterStore sourceCounters,
        RedisOperatorTokenStore targetTokens,
        ICustomerStore targetCustomers,
        IWebhookStore targetWebhooks,
        IDatabase targetDatabase,
        string redisPrefix,
        CancellationToken cancellationToken)
    {
        var total = new FeatureTotals();

        progress.Start(MigrationProgress.Counters);

        // What customers and keys used of their quotas and credits this period: without it a move to Redis would
        // hand every customer a fresh month and every prepaid key its credits again.
        foreach (var (partition, used, expiresAt) in await sourceCounters.ListAsync(DateTimeOffset.UtcNow, cancellationToken))
        {
            await RedisSharedQuotaStore.RaiseAsync(targetDatabase, redisPrefix, partition, used, expiresAt);
            total.Counters++;
        }

        progress.Start(MigrationProgress.Tokens);
        foreach (var token in await sourceTokens.ListAsync(cancellationToken))
        {
            switch (await targetTokens.ImportAsync(token, cancellationToken))
            {
                case OperatorTokenImport.Created:
                    total.TokensCreated++;
                    break;
                case OperatorTokenImport.Revoked:
                    total.TokensRevoked++;
                    break;
                case OperatorTokenImport.NameTaken:
                    total.TokensNameTaken.Add($"{token.Id} ({token.Org ?? "*"}/{token.Name})");
                    break;
                default:
                    total.TokensAlreadyThere++;
                    break;
            }
        }

        progress.Start(MigrationProgress.CustomersAndWebhooks);
        foreach (var org in await source.ListOrganizationsAsync(cancellationToken))
        {
            progress.At(org.Id);
            foreach (var customer in await sourceCustomers.ListAsync(org.Id, cancellationToken))
            {
                try
                {
                    // No entry of its own: the organization's audit log, copied with it, has the customer's.
                    await targetCustomers.CreateAsync(customer, null, cancellationToken);
                    total.CustomersCreated++;
                }
                catch (StoreConflictException)
                {
                    total.CustomersAlreadyThere++;
                }
            }

            foreach (var webhook in await sourceWebhooks.ListAsync(org.Id, cancellationToken))
            {
                if (await targetWebhooks.GetAsync(webhook.Id, cancellationToken) is not null)
                {
                    total.WebhooksAlreadyThere++;
                }
                else
                {
                    await targetWebhooks.CreateAsync(webhook, cancellationToken);
                    total.WebhooksCreated++;
                }

                await CopyDeliveriesAsync(sourceWebhooks, targetWebhooks, webhook.Id, total, cancellationToken);
            }
        }

        return total;
    }

    /// <summary>
    /// The webhook's delivery history and outbox: a delivery Redis does not have is added with its state (pending ones
    /// go on being delivered from Redis, with the same <c>webhook-id</c>, so a receiver that saw an attempt from the
    /// old gateway can tell the repeat); one Redis has is left as Redis has it. The newest <see cref="DeliveriesPerWebhook"/>
    /// per webhook, what Redis keeps.
    /// </summary>
    private static async Task CopyDeliveriesAsync(IWebhookStore source, IWebhookStore target, string webhookId, FeatureTotals total, CancellationToken cancellationToken)
    {
        var deliveries = await source.ListDeliveriesAsync(webhookId, null, DeliveriesPerWebhook, cancellationToken);
        foreach (var delivery in deliveries.Reverse())
        {
            if (await target.GetDeliveryAsync(delivery.Id, cancellationToken) is not null)
            {
                total.DeliveriesAlreadyThere++;
                continue;
            }

            await target.EnqueueAsync([delivery], cancellationToken);
            if (delivery.Status != WebhookDelivery.Pending)
            {
                // Out of the outbox: only history.
                await target.SaveDeliveryAsync(delivery, cancellationToken);
            }

            total.DeliveriesCopied++;
            total.DeliveriesPending += delivery.Status == WebhookDelivery.Pending ? 1 : 0;
        }
    }

    internal sealed class FeatureTotals
    {
        public int TokensCreated { get; set; }

        public int TokensAlreadyThere { get; set; }

        public int TokensRevoked { get; set; }

        public List<string> TokensNameTaken { get; } = [];

        public int CustomersCreated { get; set; }

        public int CustomersAlreadyThere { get; set; }

        public int WebhooksCreated { get; set; }

        public int WebhooksAlreadyThere { get; set; }

        public int DeliveriesCopied { get; set; }

        public int DeliveriesPending { get; set; }

        public int DeliveriesAlreadyThere { get; set; }

        public int Counters { get; set; }

        public string Summary() => string.Create(CultureInfo.InvariantCulture,
            $"Admin tokens: {TokensCreated} created, {TokensAlreadyThere} already in Redis, {TokensRevoked} revoked on Redis as in SQLite, {TokensNameTaken.Count} not copied (name taken). "
            + $"Customers: {CustomersCreated} created, {CustomersAlreadyThere} already in Redis. "
            + $"Webhooks: {WebhooksCreated} created, {WebhooksAlreadyThere} already in Redis; deliveries: {DeliveriesCopied} copied ({DeliveriesPending} pending, delivered from Redis on), {DeliveriesAlreadyThere} already in Redis. "
            + $"Quota and credit counters: {Counters} copied (raised on Redis to at least the SQLite count).");
    }
}
