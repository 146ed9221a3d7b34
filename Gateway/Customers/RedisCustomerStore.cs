using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Configuration;
using Gateway.Stores;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Customers;

/// <summary>
/// Customers in Redis under the store's <c>{store}</c> tag: one hash per organization,
/// <c>{store}:org:{org}:customers</c>, customer id → JSON. Creating is <c>HSETNX</c>, so ids stay unique.
/// </summary>
internal sealed class RedisCustomerStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : ICustomerStore
{
    private readonly string _prefix = options.Value.Store.RedisPrefix + "{store}:org:";

    private IDatabase Db => redis.GetDatabase();

    public async Task CreateAsync(Customer customer, CancellationToken cancellationToken)
    {
        if (!await Db.HashSetAsync(Hash(customer.OrgId), customer.Id, Json(customer), When.NotExists))
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

    public async Task<bool> UpdateAsync(Customer customer, CancellationToken cancellationToken)
    {
        // Only an existing customer is replaced (a concurrent delete wins).
        var result = await Db.ScriptEvaluateAsync(
            "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end return 0",
            [Hash(customer.OrgId)],
            [customer.Id, Json(customer)]);
        return (long)result == 1;
    }

    public Task<bool> DeleteAsync(string orgId, string id, CancellationToken cancellationToken) =>
        Db.HashDeleteAsync(Hash(orgId), id);

    private RedisKey Hash(string orgId) => new(_prefix + orgId + ":customers");

    private static string Json(Customer customer) => JsonSerializer.Serialize(customer, CustomerJsonContext.Default.Customer);

    private static Customer Read(string json) => JsonSerializer.Deserialize(json, CustomerJsonContext.Default.Customer)!;
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Customer))]
internal sealed partial class CustomerJsonContext : JsonSerializerContext;
