using Gateway.Domain;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

internal sealed partial class RedisGatewayStore : IKeyImportStore
{
    // KEYS: org, orgs. ARGV: orgId, orgJson. 1 when created, 0 when the id was taken.
    private const string ImportOrganizationScript = """
        if not redis.call('SET', KEYS[1], ARGV[2], 'NX') then return 0 end
        redis.call('SADD', KEYS[2], ARGV[1])
        return 1
        """;

    // KEYS: orgKeys, orgNames, key, hash. ARGV: keyId, keyJson, keyName, keyVersion. 1 when written, 0 when the
    // hash, the id or the live name was taken (the key is skipped, so a run can be repeated).
    private const string ImportKeyScript = """
        if redis.call('EXISTS', KEYS[4]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
        if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
        redis.call('HSET', KEYS[3], 'json', ARGV[2], 'version', ARGV[4])
        redis.call('HSET', KEYS[4], 'id', ARGV[1])
        return 1
        """;

    /// <summary>
    /// Two pipelined rounds per batch (organizations, then keys and audit), each key its own script so a
    /// clash skips only that key. Not one transaction: a batch cut short leaves whole keys, and running the
    /// import again fills in the rest.
    /// </summary>
    public async Task<int> ImportKeysAsync(IReadOnlyList<Organization> organizations, IReadOnlyList<ApiKeyRecord> keys, IReadOnlyList<AuditEntry> audit, CancellationToken cancellationToken)
    {
        var db = Db;
        var created = organizations.Select(o => db.ScriptEvaluateAsync(ImportOrganizationScript, [_keys.Org(o.Id), _keys.Orgs], [o.Id, Json(o)])).ToArray();
        await RedisCalls.Guard(() => Task.WhenAll(created), cancellationToken);
        var existing = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < organizations.Count; i++)
        {
            if ((long)created[i].Result == 0)
            {
                existing.Add(organizations[i].Id);
            }
        }

        var writes = new Task<RedisResult>[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i].IsDefault && existing.Contains(keys[i].OrgId) ? keys[i] with { IsDefault = false } : keys[i];
            writes[i] = db.ScriptEvaluateAsync(ImportKeyScript, [_keys.OrgKeys(key.OrgId), _keys.OrgNames(key.OrgId), _keys.Key(key.Id), _keys.Hash(key.Hash)], [key.Id, Json(key), key.Name, key.Version]);
        }

        var appends = audit.Select(a => db.StreamAddAsync(_keys.OrgAudit(a.OrgId), "e", Json(a))).ToArray();
        await RedisCalls.Guard(() => Task.WhenAll(writes.Concat<Task>(appends)), cancellationToken);
        await AwaitReplicaAsync(cancellationToken);
        return writes.Count(w => (long)w.Result == 1);
    }
}
