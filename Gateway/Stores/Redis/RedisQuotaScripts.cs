namespace Gateway.Stores.Redis;

/// <summary>The scripts of the shared quota and credit counters (<see cref="RedisSharedQuotaStore"/>).</summary>
internal static class RedisQuotaScripts
{
    // KEYS[1] the counter. ARGV: limit, need, want, floor, expireAtMs (0: none), unreported (less units given back).
    // Returns {granted, used before, used after}.
    public const string Lease = """
        local value = redis.call('GET', KEYS[1])
        local used = tonumber(ARGV[4])
        if value then
          used = tonumber(value)
        end
        used = used + tonumber(ARGV[6])
        local before = used
        local limit = tonumber(ARGV[1])
        local need = tonumber(ARGV[2])
        local left = limit - used
        local grant = 0
        if need > 0 and left >= need then
          grant = need
          if left - need > 64 then
            grant = need + math.min(tonumber(ARGV[3]), math.floor((left - need) / 4))
          end
        end
        used = used + grant
        redis.call('SET', KEYS[1], used)
        local expire = tonumber(ARGV[5])
        if expire > 0 then
          redis.call('PEXPIREAT', KEYS[1], expire)
        end
        return {grant, before, used}
        """;

    // KEYS[1] the counter, KEYS[2] the SQLite count the last copy carried. ARGV: the SQLite count, expireAtMs (0: none).
    // With a record of the last copy, SQLite's change since is applied to Redis's count: usage counted there goes up
    // by it, credits added there (a lower count) bring it down, and what Redis counted meanwhile stays. Without one
    // (a counter Redis counted on its own, or one copied before the record existed) the higher count wins.
    public const string Carry = """
        local value = redis.call('GET', KEYS[1])
        local copied = redis.call('GET', KEYS[2])
        local used = tonumber(ARGV[1])
        if not value then
          redis.call('SET', KEYS[1], used)
        elseif copied then
          local delta = used - tonumber(copied)
          if delta ~= 0 then
            redis.call('INCRBY', KEYS[1], delta)
          end
        elseif used > tonumber(value) then
          redis.call('SET', KEYS[1], used)
        end
        redis.call('SET', KEYS[2], used)
        if tonumber(ARGV[2]) > 0 then
          redis.call('PEXPIREAT', KEYS[1], ARGV[2])
          redis.call('PEXPIREAT', KEYS[2], ARGV[2])
        end
        return 1
        """;
}
