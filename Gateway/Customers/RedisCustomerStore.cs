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
/// <c>{store}:org:{org}:customers</c>, customer id → JSON. Each change is one transaction with its audit entry
/// (the organization's audit stream shares the <c>{store}</c> tag), conditional on the id being absent (create)
/// or present (update, delete), so ids stay unique and a change that finds nothing writes no entry.
/// </summary>
internal sealed class RedisCustomerStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : ICustomerStore
{
    private readonly string _prefix = options.Value.Store.RedisPrefix + "{store}:org:";
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    private IDatabase Db => redis.GetDatabase();

    public async Task CreateAsync(Customer customer, AuditEntry? audit, CancellationToken cancellationToken)
    {
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.HashNotExists(Hash(customer.OrgId), customer.Id));
        _ = tx.HashSetAsync(Hash(customer.OrgId), customer.Id, Json(customer));
        if (audit is not null)
        {
            _ = tx.StreamAddAsync(_keys.OrgAudit(audit.OrgId), "e", AuditJson(audit));
        }

        if (!await tx.ExecuteAsync())
        {
            throw new StoreConflictException("id", $"Customer '{customer.Id}' exists in organization '{customer.OrgId}'.");
        }
    }

    public async Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken)
    {
        var json = await Db.HashGetAsync(Hash(orgId), id);
        return json.IsNull ? null : Read(json!);
    }

    public async Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken)
    {
        var all = await Db.HashValuesAsync(Hash(orgId));
        return all.Select(v => Read(v!)).OrderBy(c => c.Id, StringComparer.Ordinal).ToList();
    }

    public Task<bool> UpdateAsync(Customer customer, AuditEntry audit, CancellationToken cancellationToken)
    {
        // Only an existing customer is replaced (a concurrent delete wins), and only then audited.
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.HashExists(Hash(customer.OrgId), customer.Id));
        _ = tx.HashSetAsync(Hash(customer.OrgId), customer.Id, Json(customer));
        _ = tx.StreamAddAsync(_keys.OrgAudit(audit.OrgId), "e", AuditJson(audit));
        return tx.ExecuteAsync();
    }

    public Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken)
    {
        var tx = Db.CreateTransaction();
        tx.AddCondition(Condition.HashExists(Hash(orgId), id));
        _ = tx.HashDeleteAsync(Hash(orgId), id);
        _ = tx.StreamAddAsync(_keys.OrgAudit(audit.OrgId), "e", AuditJson(audit));
        return tx.ExecuteAsync();
    }

    private RedisKey Hash(string orgId) => new(_prefix + orgId + ":customers");

    private static string AuditJson(AuditEntry audit) => JsonSerializer.Serialize(audit, RedisJsonContext.Default.AuditEntry);

    private static string Json(Customer customer) => JsonSerializer.Serialize(customer, CustomerJsonContext.Default.Customer);

    private static Customer Read(string json) => JsonSerializer.Deserialize(json, CustomerJsonContext.Default.Customer)!;
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Customer))]
internal sealed partial class CustomerJsonContext : JsonSerializerContext;
