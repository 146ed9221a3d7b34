using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Webhooks;

/// <summary>
/// Webhooks in Redis under the hash tag <c>{webhooks}</c> (one slot, so transactions span them on a cluster):
/// <c>hook:{id}</c> (JSON), <c>org:{org}</c> (set of ids), <c>delivery:{id}</c> (JSON),
/// <c>hook:{id}:deliveries</c> (ids by creation time), <c>due</c> (pending delivery ids by due time) and
/// <c>mark:{mark}</c>. A claim moves due ids' scores to the lease's end in one script, so instances sharing the
/// store never take the same delivery while a lease runs, and a crashed instance's claims come due again.
/// </summary>
internal sealed class RedisWebhookStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : IWebhookStore
{
    private const int HistoryKept = 1000;

    private const string ClaimScript = """
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
        return ids
        """;

    private readonly string _root = options.Value.Store.RedisPrefix + "{webhooks}:";
    private readonly RedisKeys _storeKeys = new(options.Value.Store.RedisPrefix);

    private IDatabase Db => redis.GetDatabase();

    private RedisKey Due => _root + "due";

    public async Task CreateAsync(Webhook webhook, CancellationToken cancellationToken)
    {
        var tx = Db.CreateTransaction();
        _ = tx.StringSetAsync(Hook(webhook.Id), Json(webhook));
        _ = tx.SetAddAsync(Org(webhook.OrgId), webhook.Id);
        await tx.ExecuteAsync();
    }

    public async Task<Webhook?> GetAsync(string id, CancellationToken cancellationToken)
    {
        var json = (string?)await Db.StringGetAsync(Hook(id));
        return json is null ? null : JsonSerializer.Deserialize(json, WebhookStoreJsonContext.Default.Webhook);
    }

    public async Task<IReadOnlyList<Webhook>> ListAsync(string orgId, CancellationToken cancellationToken)
    {
        var db = Db;
        var ids = await RedisCalls.Guard(() => db.SetMembersAsync(Org(orgId)), cancellationToken);
        if (ids.Length == 0)
        {
            return [];
        }

        var values = await RedisCalls.Guard(() => db.StringGetAsync(ids.Select(id => Hook(id!)).ToArray()), cancellationToken);
        return values.Where(v => !v.IsNull)
            .Select(v => JsonSerializer.Deserialize((string)v!, WebhookStoreJsonContext.Default.Webhook)!)
            .OrderBy(w => w.CreatedAt).ThenBy(w => w.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Every webhook of the organization is read and the page cut here: the ids are a set, the order (created, then id)
    /// is in the records, and an organization has at most <c>Webhooks:MaxPerOrg</c> of them.
    /// </summary>
    public async Task<IReadOnlyList<Webhook>> ListAfterAsync(string orgId, TimeIdPosition? after, int? count, CancellationToken cancellationToken)
    {
        var all = await ListAsync(orgId, cancellationToken);
        // By whole milliseconds, as the cursor holds them (the record keeps finer times; SQLite does not).
        return all.OrderBy(w => w.CreatedAt.ToUnixTimeMilliseconds()).ThenBy(w => w.Id, StringComparer.Ordinal)
            .Where(w => after is null || after.CompareTo(w.CreatedAt, w.Id) > 0)
            .Take(count ?? int.MaxValue)
            .ToList();
    }

    public Task UpdateAsync(Webhook webhook, CancellationToken cancellationToken) =>
        Db.StringSetAsync(Hook(webhook.Id), Json(webhook), when: When.Exists);

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        var db = Db;
        var hook = await GetAsync(id, cancellationToken);
        if (hook is null)
        {
            return false;
        }

        var deliveries = await db.SortedSetRangeByRankAsync(History(id));
        var tx = db.CreateTransaction();
        _ = tx.KeyDeleteAsync(Hook(id));
        _ = tx.SetRemoveAsync(Org(hook.OrgId), id);
        _ = tx.KeyDeleteAsync(History(id));
        if (deliveries.Length > 0)
        {
            // Not with an empty list: ZREM and DEL without members fail, and with them the whole transaction.
            _ = tx.SortedSetRemoveAsync(Due, deliveries);
            _ = tx.KeyDeleteAsync(deliveries.Select(d => Delivery(d!)).ToArray());
        }

        await tx.ExecuteAsync();
        return true;
    }

    public async Task EnqueueAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken)
    {
        var tx = Db.CreateTransaction();
        foreach (var d in deliveries)
        {
            _ = tx.StringSetAsync(Delivery(d.Id), Json(d));
            _ = tx.SortedSetAddAsync(History(d.WebhookId), d.Id, d.CreatedAt.ToUnixTimeMilliseconds());
            _ = tx.SortedSetAddAsync(Due, d.Id, d.NextAttemptAt.ToUnixTimeMilliseconds());
        }

        // Guarded: a publisher retries an event whose outbox write failed only when the failure is Redis not answering.
        await RedisCalls.Guard(() => tx.ExecuteAsync(), cancellationToken);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken)
    {
        var db = Db;
        var ids = (RedisValue[]?)await db.ScriptEvaluateAsync(ClaimScript, [Due], [now.ToUnixTimeMilliseconds(), leaseUntil.ToUnixTimeMilliseconds(), max]) ?? [];
        if (ids.Length == 0)
        {
            return [];
        }

        var values = await db.StringGetAsync(ids.Select(id => Delivery(id!)).ToArray());
        var claimed = new List<WebhookDelivery>();
        for (var i = 0; i < ids.Length; i++)
        {
            var delivery = values[i].IsNull ? null : JsonSerializer.Deserialize((string)values[i]!, WebhookStoreJsonContext.Default.WebhookDelivery);
            if (delivery is null || delivery.Status != WebhookDelivery.Pending)
            {
                await db.SortedSetRemoveAsync(Due, ids[i]);
                continue;
            }

            claimed.Add(delivery with { NextAttemptAt = leaseUntil });
        }

        return claimed;
    }

    public async Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var db = Db;
        if (!await db.KeyExistsAsync(Hook(delivery.WebhookId)))
        {
            // The webhook was deleted meanwhile: nothing of it is kept.
            await db.SortedSetRemoveAsync(Due, delivery.Id);
            await db.KeyDeleteAsync(Delivery(delivery.Id));
            return;
        }

        var tx = db.CreateTransaction();
        _ = tx.StringSetAsync(Delivery(delivery.Id), Json(delivery));
        _ = delivery.Status == WebhookDelivery.Pending
            ? tx.SortedSetAddAsync(Due, delivery.Id, delivery.NextAttemptAt.ToUnixTimeMilliseconds())
            : tx.SortedSetRemoveAsync(Due, delivery.Id);
        await tx.ExecuteAsync();
        await TrimHistoryAsync(db, delivery.WebhookId);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string webhookId, TimeIdPosition? after, int limit, CancellationToken cancellationToken)
    {
        var db = Db;
        RedisValue[] ids;
        if (after is null)
        {
            ids = await db.SortedSetRangeByRankAsync(History(webhookId), 0, limit - 1, Order.Descending);
        }
        else
        {
            // The history's order is the list's: score (creation, ms) descending, then member descending, which Redis
            // compares bytewise as the cursor's ordinal id. Those of the cursor's millisecond that come after it, then
            // the older ones; two reads sent together.
            var sameTime = db.SortedSetRangeByScoreAsync(History(webhookId), after.AtMillis, after.AtMillis, order: Order.Descending);
            var older = db.SortedSetRangeByScoreAsync(History(webhookId), double.NegativeInfinity, after.AtMillis, Exclude.Stop, Order.Descending, 0, limit);
            ids = (await sameTime).Where(id => string.CompareOrdinal((string?)id, after.Id) < 0).Concat(await older).Take(limit).ToArray();
        }

        if (ids.Length == 0)
        {
            return [];
        }

        var values = await db.StringGetAsync(ids.Select(id => Delivery(id!)).ToArray());
        return values.Where(v => !v.IsNull).Select(v => JsonSerializer.Deserialize((string)v!, WebhookStoreJsonContext.Default.WebhookDelivery)!).ToList();
    }

    public async Task<WebhookDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken)
    {
        var json = (string?)await Db.StringGetAsync(Delivery(deliveryId));
        return json is null ? null : JsonSerializer.Deserialize(json, WebhookStoreJsonContext.Default.WebhookDelivery);
    }

    public Task<bool> MarkOnceAsync(string mark, DateTimeOffset now, TimeSpan keepFor, CancellationToken cancellationToken) =>
        Db.StringSetAsync(_root + "mark:" + mark, now.ToUnixTimeMilliseconds(), keepFor, When.NotExists);

    public Task AuditAsync(AuditEntry entry, CancellationToken cancellationToken) =>
        Db.StreamAddAsync(_storeKeys.OrgAudit(entry.OrgId), "e", JsonSerializer.Serialize(entry, RedisJsonContext.Default.AuditEntry));

    private async Task TrimHistoryAsync(IDatabase db, string webhookId)
    {
        // Keeps the newest deliveries' history; older finished ones go (pending ones are never among them in practice).
        var old = await db.SortedSetRangeByRankAsync(History(webhookId), 0, -HistoryKept - 1);
        if (old.Length > 0)
        {
            await db.SortedSetRemoveAsync(History(webhookId), old);
            await db.KeyDeleteAsync(old.Select(id => Delivery(id!)).ToArray());
        }
    }

    private RedisKey Hook(string id) => _root + "hook:" + id;

    private RedisKey Org(string org) => _root + "org:" + org;

    private RedisKey History(string hookId) => _root + "hook:" + hookId + ":deliveries";

    private RedisKey Delivery(string id) => _root + "delivery:" + id;

    private static string Json(Webhook w) => JsonSerializer.Serialize(w, WebhookStoreJsonContext.Default.Webhook);

    private static string Json(WebhookDelivery d) => JsonSerializer.Serialize(d, WebhookStoreJsonContext.Default.WebhookDelivery);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(Webhook))]
[JsonSerializable(typeof(WebhookDelivery))]
internal sealed partial class WebhookStoreJsonContext : JsonSerializerContext;
