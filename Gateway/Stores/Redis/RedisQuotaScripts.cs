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

    // KEYS[1] the counter. ARGV: used, expireAtMs (0: none). Never lowers the counter.
    public const string Raise = """
        local value = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) > value then
          redis.call('SET', KEYS[1], ARGV[1])
        end
        if tonumber(ARGV[2]) > 0 then
          redis.call('PEXPIREAT', KEYS[1], ARGV[2])
        end
        return 1
        """;
}
