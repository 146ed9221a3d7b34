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
/// Tokens, webhooks and deliveries are created on Redis when missing and otherwise left as Redis has them (Redis is
/// where changes are made once gateways run on it), except that a token revoked in SQLite is revoked on Redis too.
/// Customers follow the keys' rule (changed only in SQLite since the last copy: updated or deleted on Redis), counters
/// carry SQLite's change since the last copy, and the marks of events sent once per key (<c>key.expiring</c>) come along.
/// Usage history is not copied.
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
        SqliteWebhookStore sourceWebhooks,
        SqliteQuotaCounterStore sourceCounters,
        RedisOperatorTokenStore targetTokens,
        RedisCustomerStore targetCustomers,
        RedisWebhookStore targetWebhooks,
        IDatabase targetDatabase,
        string redisPrefix,
        bool keepRedisOnConflict,
        CancellationToken cancellationToken)
    {
        var total = new FeatureTotals();

        progress.Start(MigrationProgress.Counters);

        // What customers and keys used of their quotas and credits this period: without it a move to Redis would
        // hand every customer a fresh month and every prepaid key its credits again. Run again, SQLite's change since
        // the last copy is what is carried: raising Redis's count to SQLite's dropped credits added in SQLite (they
        // lower its count), and setting it to SQLite's would undo what gateways on Redis counted meanwhile.
        foreach (var (partition, used, expiresAt) in await sourceCounters.ListAsync(DateTimeOffset.UtcNow, cancellationToken))
        {
            await RedisSharedQuotaStore.CarryAsync(targetDatabase, redisPrefix, partition, used, expiresAt);
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
            // By the keys' rule (a record of the copy tells which side changed): a customer renamed in SQLite since the
            // last run was left as it was while the rename's audit entry was copied, so Redis's log told of a change Redis did not hold.
            var customers = await sourceCustomers.ListAsync(org.Id, cancellationToken);
            var gone = (await targetCustomers.CopiedIdsAsync(org.Id, cancellationToken)).Except(customers.Select(c => c.Id), StringComparer.Ordinal).ToList();
            foreach (var (id, customer) in customers.Select(c => (c.Id, (Customer?)c)).Concat(gone.Select(id => (id, (Customer?)null))))
            {
                var outcome = await targetCustomers.ImportAsync(org.Id, id, customer, keepRedisOnConflict, cancellationToken);
                total.Count(org.Id, id, outcome);
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

        // "Already sent" marks (key.expiring goes once per key): without them the first scan on Redis sent each again.
        var now = DateTimeOffset.UtcNow;
        foreach (var (mark, at) in await sourceWebhooks.ListMarksAsync(cancellationToken))
        {
            var keepFor = KeyExpiryScanner.MarkNeededUntil(mark, at) - now;
            if (keepFor > TimeSpan.Zero && await targetWebhooks.CopyMarkAsync(mark, at, keepFor))
            {
                total.MarksCopied++;
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
    private static async Task CopyDeliveriesAsync(SqliteWebhookStore source, RedisWebhookStore target, string webhookId, FeatureTotals total, CancellationToken cancellationToken)
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

        public int CustomersUpdated { get; set; }

        public int CustomersDeleted { get; set; }

        /// <summary>Customers changed on both sides since the last copy: left as Redis has them, their audit entries held back.</summary>
        public HashSet<(string OrgId, string Id)> CustomerConflicts { get; } = [];

        /// <summary>Such conflicts settled in Redis's favour (<c>--keep-redis</c>).</summary>
        public List<string> CustomersKeptRedis { get; } = [];

        public int WebhooksCreated { get; set; }

        public int WebhooksAlreadyThere { get; set; }

        public int DeliveriesCopied { get; set; }

        public int DeliveriesPending { get; set; }

        public int DeliveriesAlreadyThere { get; set; }

        public int Counters { get; set; }

        public int MarksCopied { get; set; }

        public void Count(string orgId, string id, CustomerImport outcome)
        {
            switch (outcome)
            {
                case CustomerImport.Created:
                    CustomersCreated++;
                    break;
                case CustomerImport.Updated:
                    CustomersUpdated++;
                    break;
                case CustomerImport.Deleted:
                    CustomersDeleted++;
                    break;
                case CustomerImport.Conflict:
                    CustomerConflicts.Add((orgId, id));
                    break;
                case CustomerImport.KeptRedis:
                    CustomersAlreadyThere++;
                    CustomersKeptRedis.Add($"{orgId}/{id}");
                    break;
                default:
                    CustomersAlreadyThere++;
                    break;
            }
        }

        public string Summary() => string.Create(CultureInfo.InvariantCulture,
            $"Admin tokens: {TokensCreated} created, {TokensAlreadyThere} already in Redis, {TokensRevoked} revoked on Redis as in SQLite, {TokensNameTaken.Count} not copied (name taken). "
            + $"Customers: {CustomersCreated} created, {CustomersAlreadyThere} already in Redis (left as Redis has them), {CustomersUpdated} updated and {CustomersDeleted} deleted as in SQLite, {CustomerConflicts.Count} in conflict. "
            + $"Webhooks: {WebhooksCreated} created, {WebhooksAlreadyThere} already in Redis; deliveries: {DeliveriesCopied} copied ({DeliveriesPending} pending, delivered from Redis on), {DeliveriesAlreadyThere} already in Redis; {MarksCopied} marks of events sent once per key copied. "
            + $"Quota and credit counters: {Counters} copied (SQLite's change since the last copy added to Redis's count).");
    }
}
