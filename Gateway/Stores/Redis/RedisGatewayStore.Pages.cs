using System.Text.Json;
using Gateway.Domain;

namespace Gateway.Stores.Redis;

internal sealed partial class RedisGatewayStore : IGatewayListPages
{
    /// <summary>The ids come from the set whole (a set has no order), but only the page's records are read.</summary>
    public async Task<IReadOnlyList<Organization>> ListOrganizationsAfterAsync(string? afterId, int? count, CancellationToken cancellationToken)
    {
        var members = await RedisCalls.Guard(() => Db.SetMembersAsync(_keys.Orgs), cancellationToken);
        var ids = members.Select(m => (string)m!)
            .Where(id => afterId is null || string.CompareOrdinal(id, afterId) > 0)
            .Order(StringComparer.Ordinal)
            .Take(count ?? int.MaxValue)
            .ToArray();
        if (ids.Length == 0)
        {
            return [];
        }

        var values = await RedisCalls.Guard(() => Db.StringGetAsync(ids.Select(id => _keys.Org(id)).ToArray()), cancellationToken);
        return values.Where(v => !v.IsNull)
            .Select(v => JsonSerializer.Deserialize((string)v!, RedisJsonContext.Default.Organization)!)
            .ToList();
    }

    /// <summary>
    /// The list's order (created, then id) is inside each key's record, and an organization's keys are a set: every
    /// record is read and the page cut here. A sorted index by creation would let Redis cut it; see docs/redis.md.
    /// </summary>
    public async Task<IReadOnlyList<ApiKeyRecord>> ListKeysAfterAsync(string orgId, KeyListPosition? after, int? count, CancellationToken cancellationToken)
    {
        var all = await ListKeysAsync(orgId, cancellationToken);
        return all.Where(k => after is null || after.Precedes(k))
            .OrderBy(k => k.CreatedAt.ToUnixTimeMilliseconds())
            .ThenBy(k => k.Id, StringComparer.Ordinal)
            .Take(count ?? int.MaxValue)
            .ToList();
    }
}
