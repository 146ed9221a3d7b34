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
/// Webhooks in Redis under the hash tag <c>{webhooks}</c> (one slot, so one script spans them on a cluster):
/// <c>hook:{id}</c> (JSON), <c>org:{org}</c> (set of ids), <c>delivery:{id}</c> (JSON),
/// <c>hook:{id}:deliveries</c> (ids by creation time), <c>due</c> (pending delivery ids by due time) and
/// <c>mark:{mark}</c>. A claim moves due ids' scores to the lease's end in one script, so instances sharing the
/// store never take the same delivery while a lease runs, and a crashed instance's claims come due again.
/// Writes of more than one key are scripts, not MULTI/EXEC: the ACL user docs/redis.md recommends has no
/// <c>@transaction</c> commands (EXEC was refused, and with it every webhook write and <c>migrate-store</c>'s copy).
/// </summary>
internal sealed class RedisWebhookStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : IWebhookStore
{
    private const int HistoryKept = 1000;

    private const string ClaimScript = """
        local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
        for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
        return ids
        """;

    // KEYS: hook, the organization's set. ARGV: JSON, id.
    private const string CreateScript = """
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('SADD', KEYS[2], ARGV[2])
        """;

    // KEYS: hook, the organization's set, history, due, then each delivery's key. ARGV: id, then each delivery's id.
    // ZREM and DEL need at least one member, and a script keeps what it wrote before an error: hence the check.
    private const string DeleteScript = """
        redis.call('DEL', KEYS[1], KEYS[3])
        redis.call('SREM', KEYS[2], ARGV[1])
        if #ARGV > 1 then
          redis.call('ZREM', KEYS[4], unpack(ARGV, 2))
          redis.call('DEL', unpack(KEYS, 5))
        end
        """;

    // KEYS: due, then per delivery its key and its webhook's history. ARGV: per delivery JSON, id, created (ms), due (ms).
    private const string EnqueueScript = """
        for i = 0, #ARGV / 4 - 1 do
          local a = i * 4
          redis.call('SET', KEYS[2 + i * 2], ARGV[a + 1])
          redis.call('ZADD', KEYS[3 + i * 2], ARGV[a + 3], ARGV[a + 2])
          redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a + 2])
        end
        """;

    // KEYS: delivery, due. ARGV: JSON, id, 1 while pending (then due, ms) else 0.
    private const string SaveDeliveryScript = """
        redis.call('SET', KEYS[1], ARGV[1])
        if ARGV[3] == '1' then
          redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
        else
          redis.call('ZREM', KEYS[2], ARGV[2])
        end
        """;

    private readonly string _root = options.Value.Store.RedisPrefix + "{webhooks}:";
    private readonly RedisKeys _storeKeys = new(options.Value.Store.RedisPrefix);

    private IDatabase Db => redis.GetDatabase();

    private RedisKey Due => _root + "due";

    public async Task CreateAsync(Webhook webhook, CancellationToken cancellationToken)
    {
        await Db.ScriptEvaluateAsync(CreateScript, [Hook(webhook.Id), Org(webhook.OrgId)], [Json(webhook), webhook.Id]);
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
        RedisKey[] keys = [Hook(id), Org(hook.OrgId), History(id), Due, .. deliveries.Select(d => Delivery(d!))];
        await db.ScriptEvaluateAsync(DeleteScript, keys, [id, .. deliveries]);
        return true;
    }

    public async Task EnqueueAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        RedisKey[] keys = [Due, .. deliveries.SelectMany(d => new[] { Delivery(d.Id), History(d.WebhookId) })];
        RedisValue[] args = [.. deliveries.SelectMany(d => new RedisValue[] { Json(d), d.Id, d.CreatedAt.ToUnixTimeMilliseconds(), d.NextAttemptAt.ToUnixTimeMilliseconds() })];

        // Guarded: a publisher retries an event whose outbox write failed only when the failure is Redis not answering.
        await RedisCalls.Guard(() => Db.ScriptEvaluateAsync(EnqueueScript, keys, args), cancellationToken);
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

        var pending = delivery.Status == WebhookDelivery.Pending;
        await db.ScriptEvaluateAsync(
            SaveDeliveryScript,
            [Delivery(delivery.Id), Due],
            [Json(delivery), delivery.Id, pending ? 1 : 0, delivery.NextAttemptAt.ToUnixTimeMilliseconds()]);
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

    /// <summary>
    /// A mark copied by <c>migrate-store</c>, kept for <paramref name="keepFor"/>; false when Redis had it already
    /// (a mark set on Redis stays as it is).
    /// </summary>
    internal Task<bool> CopyMarkAsync(string mark, DateTimeOffset at, TimeSpan keepFor) =>
        Db.StringSetAsync(_root + "mark:" + mark, at.ToUnixTimeMilliseconds(), keepFor, When.NotExists);

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
