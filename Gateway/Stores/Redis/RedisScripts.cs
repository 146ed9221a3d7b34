namespace Gateway.Stores.Redis;

/// <summary>
/// The writes that must land together. Each script checks its preconditions and then writes everything,
/// or nothing; the caller passes every key it touches in KEYS, so the scripts are Cluster-safe
/// (all store keys share one hash tag). Return values: "ok", "conflict:id", "conflict:name", "notfound",
/// "version". StackExchange.Redis sends them by SHA after the first call.
/// </summary>
internal static class RedisScripts
{
    // KEYS: org, orgs, orgKeys, orgNames, key, hash, audit
    // ARGV: orgId, orgJson, keyId, keyJson, keyName, keyVersion, auditJson
    public const string CreateOrganization = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 'conflict:id' end
        redis.call('SET', KEYS[1], ARGV[2])
        redis.call('SADD', KEYS[2], ARGV[1])
        redis.call('SADD', KEYS[3], ARGV[3])
        redis.call('HSET', KEYS[4], ARGV[5], ARGV[3])
        redis.call('HSET', KEYS[5], 'json', ARGV[4], 'version', ARGV[6])
        redis.call('HSET', KEYS[6], 'id', ARGV[3])
        redis.call('XADD', KEYS[7], '*', 'e', ARGV[7])
        return 'ok'
        """;

    // KEYS: org, orgKeys, orgNames, key, hash, audit
    // ARGV: keyId, keyJson, keyName, keyVersion, auditJson
    public const string CreateKey = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 'notfound' end
        if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return 'conflict:name' end
        redis.call('SADD', KEYS[2], ARGV[1])
        redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
        redis.call('HSET', KEYS[4], 'json', ARGV[2], 'version', ARGV[4])
        redis.call('HSET', KEYS[5], 'id', ARGV[1])
        redis.call('XADD', KEYS[6], '*', 'e', ARGV[5])
        return 'ok'
        """;

    // KEYS: key, orgNames, audit, then hash-index keys to delete (count ARGV[8]), then hash-index keys to point at the key
    // ARGV: keyId, expectedVersion, newVersion, newJson, oldName, newName, newRevoked ('1'/'0'), deleteCount, auditJson
    public const string UpdateKey = """
        local current = redis.call('HGET', KEYS[1], 'version')
        if not current then return 'notfound' end
        if current ~= ARGV[2] then return 'version' end
        if ARGV[7] == '1' then
          if redis.call('HGET', KEYS[2], ARGV[5]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[5]) end
        elseif ARGV[5] ~= ARGV[6] then
          if redis.call('HEXISTS', KEYS[2], ARGV[6]) == 1 then return 'conflict:name' end
          redis.call('HDEL', KEYS[2], ARGV[5])
          redis.call('HSET', KEYS[2], ARGV[6], ARGV[1])
        end
        local deletes = tonumber(ARGV[8])
        for i = 4, 3 + deletes do redis.call('DEL', KEYS[i]) end
        for i = 4 + deletes, #KEYS do redis.call('HSET', KEYS[i], 'id', ARGV[1]) end
        redis.call('HSET', KEYS[1], 'json', ARGV[4], 'version', ARGV[3])
        redis.call('XADD', KEYS[3], '*', 'e', ARGV[9])
        return 'ok'
        """;

    // KEYS: usage. ARGV: keyId1, millis1, keyId2, millis2, ... Raises, never lowers.
    public const string RecordUsage = """
        for i = 1, #ARGV, 2 do
          local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
          if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
        end
        return 'ok'
        """;

    // KEYS: key, orgKeys, orgNames, then ARGV[8] hash keys to delete (if still this key's), then hash keys to point here
    // ARGV: keyId, expectedVersion ('' when the key must not exist yet), newVersion, keyJson, oldName ('' when new),
    //       newName, revoked ('1'/'0'), deleteCount, copiedMarker
    // Writes only when Redis still holds the version the caller decided on, so a change made on Redis between
    // that read and this write is never overwritten: "ok", "changed" or "conflict:name".
    public const string ImportKey = """
        local stored = redis.call('HGET', KEYS[1], 'version')
        if ARGV[2] == '' then
          if stored then return 'changed' end
        elseif stored ~= ARGV[2] then return 'changed' end
        if ARGV[7] == '0' then
          local holder = redis.call('HGET', KEYS[3], ARGV[6])
          if holder and holder ~= ARGV[1] then return 'conflict:name' end
        end
        if ARGV[5] ~= '' and redis.call('HGET', KEYS[3], ARGV[5]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[5]) end
        if ARGV[7] == '0' then redis.call('HSET', KEYS[3], ARGV[6], ARGV[1]) end
        redis.call('HSET', KEYS[1], 'json', ARGV[4], 'version', ARGV[3], 'copied', ARGV[9])
        redis.call('SADD', KEYS[2], ARGV[1])
        local n = tonumber(ARGV[8])
        for i = 4, 3 + n do
          if redis.call('HGET', KEYS[i], 'id') == ARGV[1] then redis.call('DEL', KEYS[i]) end
        end
        for i = 4 + n, #KEYS do redis.call('HSET', KEYS[i], 'id', ARGV[1]) end
        return 'ok'
        """;

    // KEYS: key. ARGV: expectedVersion, copiedMarker. Records what a copy found the key to be, without
    // touching the record: "ok" or "changed".
    public const string MarkCopied = """
        if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 'changed' end
        redis.call('HSET', KEYS[1], 'copied', ARGV[2])
        return 'ok'
        """;
}
