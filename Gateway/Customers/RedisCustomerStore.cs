using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Customers;

/// <summary>
/// Customers in Redis under the store's <c>{store}</c> tag: one hash per organization,
/// <c>{store}:org:{org}:customers</c>, customer id → JSON. Each change is one script with its audit entry
/// (the organization's audit stream shares the <c>{store}</c> tag), conditional on the id being absent (create)
/// or present (update, delete), so ids stay unique and a change that finds nothing writes no entry.
/// </summary>
internal sealed class RedisCustomerStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : ICustomerStore
{
    // KEYS: the organization's customers hash, its audit stream. ARGV: id, customer JSON, audit entry JSON ('' for none).
    private const string CreateScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        if ARGV[3] ~= '' then redis.call('XADD', KEYS[2], '*', 'e', ARGV[3]) end
        return 1
        """;

    // Only an existing customer is replaced (a concurrent delete wins), and only then audited.
    private const string UpdateScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
        return 1
        """;

    private const string DeleteScript = """
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('XADD', KEYS[2], '*', 'e', ARGV[3])
        return 1
        """;

    // KEYS: the organization's customers hash, its record of migrate-store's copies. ARGV: id, the customer's JSON as
    // read ('' for none), the JSON to write ('' to delete), the fingerprint of the source record to record.
    // 0 when the customer changed on Redis since it was read.
    private const string ImportScript = """
        if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
        if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
        return 1
        """;

    /// <summary>The fingerprint recorded for a customer the source no longer has.</summary>
    private const string Deleted = "deleted";

    private readonly string _prefix = options.Value.Store.RedisPrefix + "{store}:org:";
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    private IDatabase Db => redis.GetDatabase();

    public async Task CreateAsync(Customer customer, AuditEntry? audit, CancellationToken cancellationToken)
    {
        if (!await ChangeAsync(CreateScript, customer.OrgId, customer.Id, Json(customer), audit))
        {
            throw new StoreConflictException("id", $"Customer '{customer.Id}' exists in organization '{customer.OrgId}'.");
        }
    }

    // Every call goes through RedisCalls.Guard: a Redis failure is the store's "could not answer" (503), never a 500.
    public async Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken)
    {
        var json = await RedisCalls.Guard(() => Db.HashGetAsync(Hash(orgId), id), cancellationToken);
        return json.IsNull ? null : Read(json!);
    }

    public async Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken)
    {
        var all = await RedisCalls.Guard(() => Db.HashValuesAsync(Hash(orgId)), cancellationToken);
        return all.Select(v => Read(v!)).OrderBy(c => c.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>The ids come from the hash whole (a hash has no order), but only the page's customers are read.</summary>
    public async Task<IReadOnlyList<Customer>> ListAfterAsync(string orgId, string? afterId, int? count, CancellationToken cancellationToken)
    {
        var fields = await RedisCalls.Guard(() => Db.HashKeysAsync(Hash(orgId)), cancellationToken);
        var ids = fields.Select(f => (string)f!)
            .Where(id => afterId is null || string.CompareOrdinal(id, afterId) > 0)
            .Order(StringComparer.Ordinal)
            .Take(count ?? int.MaxValue)
            .Select(id => (RedisValue)id)
            .ToArray();
        if (ids.Length == 0)
        {
            return [];
        }

        // A customer deleted since HKEYS reads as nil: it is left out, as it would be had it gone a moment earlier.
        var values = await RedisCalls.Guard(() => Db.HashGetAsync(Hash(orgId), ids), cancellationToken);
        return values.Where(v => !v.IsNull).Select(v => Read(v!)).ToList();
    }

    public Task<bool> UpdateAsync(Customer customer, AuditEntry audit, CancellationToken cancellationToken) =>
        ChangeAsync(UpdateScript, customer.OrgId, customer.Id, Json(customer), audit);

    public Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken) =>
        ChangeAsync(DeleteScript, orgId, id, "", audit);

    private async Task<bool> ChangeAsync(string script, string orgId, string id, string json, AuditEntry? audit) =>
        (long)await RedisCalls.Guard(() => Db.ScriptEvaluateAsync(script, [Hash(orgId), _keys.OrgAudit(orgId)], [id, json, audit is null ? "" : AuditJson(audit)])) == 1;

    /// <summary>
    /// Copies one customer from another store (<c>migrate-store</c>; <paramref name="source"/> null: the source deleted it),
    /// by the rule keys follow: a record of the copy (the fingerprint of the source record copied) tells which side
    /// changed it since the last run. Changed only in the source: written (or deleted); changed only on Redis, or on
    /// neither: untouched; on both, or on Redis without a record of a copy while it differs from the source: a conflict,
    /// left as Redis has it (with <paramref name="keepRedisOnConflict"/>, the source's state is recorded as copied).
    /// No audit entry of its own: the organization's log, copied with it, has the source's.
    /// </summary>
    internal async Task<CustomerImport> ImportAsync(string orgId, string id, Customer? source, bool keepRedisOnConflict, CancellationToken cancellationToken)
    {
        var db = Db;
        var sourceJson = source is null ? "" : Json(source);
        var sourcePrint = source is null ? Deleted : Fingerprint(sourceJson);
        var current = (string?)await RedisCalls.Guard(() => db.HashGetAsync(Hash(orgId), id), cancellationToken) ?? "";
        var recorded = (string?)await RedisCalls.Guard(() => db.HashGetAsync(Copies(orgId), id), cancellationToken);
        var currentPrint = current.Length == 0 ? Deleted : Fingerprint(current);

        bool conflict;
        if (recorded is null)
        {
            if (current.Length == 0)
            {
                return source is null ? CustomerImport.Unchanged : await WriteAsync(sourceJson, CustomerImport.Created);
            }

            // Copied by a migrate-store that kept no record, or made on Redis under the same id: only an identical
            // record tells that neither side changed it.
            if (currentPrint == sourcePrint)
            {
                return await WriteAsync(current, CustomerImport.Unchanged);
            }

            conflict = true;
        }
        else
        {
            var changedInSource = sourcePrint != recorded;
            var changedOnRedis = currentPrint != recorded;
            if (!changedInSource)
            {
                return changedOnRedis ? CustomerImport.ChangedOnRedis : CustomerImport.Unchanged;
            }

            if (!changedOnRedis)
            {
                return await WriteAsync(sourceJson, source is null ? CustomerImport.Deleted : current.Length == 0 ? CustomerImport.Created : CustomerImport.Updated);
            }

            conflict = true;
        }

        return conflict && keepRedisOnConflict ? await WriteAsync(current, CustomerImport.KeptRedis) : CustomerImport.Conflict;

        // Conditional on what was read: a change made on Redis meanwhile is not overwritten (a conflict; run again).
        async Task<CustomerImport> WriteAsync(string json, CustomerImport outcome) =>
            (long)await RedisCalls.Guard(() => db.ScriptEvaluateAsync(ImportScript, [Hash(orgId), Copies(orgId)], [id, current, json, sourcePrint]), cancellationToken) == 1
                ? outcome
                : CustomerImport.Conflict;
    }

    /// <summary>The ids of the organization's customers that <c>migrate-store</c> has a record of a copy of.</summary>
    internal async Task<IReadOnlyList<string>> CopiedIdsAsync(string orgId, CancellationToken cancellationToken) =>
        (await RedisCalls.Guard(() => Db.HashKeysAsync(Copies(orgId)), cancellationToken)).Select(v => (string)v!).ToList();

    private static string Fingerprint(string json) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(json)));

    private RedisKey Hash(string orgId) => new(_prefix + orgId + ":customers");

    /// <summary>Customer id → fingerprint of the source record <c>migrate-store</c> last copied (or settled).</summary>
    private RedisKey Copies(string orgId) => new(_prefix + orgId + ":customers-copied");

    private static string AuditJson(AuditEntry audit) => JsonSerializer.Serialize(audit, RedisJsonContext.Default.AuditEntry);

    private static string Json(Customer customer) => JsonSerializer.Serialize(customer, CustomerJsonContext.Default.Customer);

    private static Customer Read(string json) => JsonSerializer.Deserialize(json, CustomerJsonContext.Default.Customer)!;
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Customer))]
internal sealed partial class CustomerJsonContext : JsonSerializerContext;

/// <summary>What <see cref="RedisCustomerStore.ImportAsync"/> did with one customer.</summary>
internal enum CustomerImport
{
    Created,
    Updated,
    Deleted,
    Unchanged,
    ChangedOnRedis,
    Conflict,
    KeptRedis,
}
