namespace Gateway.Stores.Redis;

/// <summary>
/// The rate limiter's one script (Gateway/RateLimiting/RedisRateLimitCounter): charges and gives back a
/// lease of permits on one partition's hash of per-bucket counts, reading Redis's clock.
/// </summary>
internal static class RedisRateLimitScript
{
    // KEYS[1]: the partition's hash {bucket id -> permits}. ARGV: limit, window (ms), permits wanted,
    // bucket and count of permits given back, permits to charge whatever is left (an address's count from the
    // per-instance sketch, when it is promoted to a partition of its own). Returns: granted, permits left after the grant, current
    // bucket, bucket length (ms), Redis time (ms), ms until the oldest counted bucket leaves the window,
    // ms until a permit is free again (when none is).
    public const string Lease = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local want = tonumber(ARGV[3])
        local back_id = tonumber(ARGV[4])
        local back = tonumber(ARGV[5])
        local seed = tonumber(ARGV[6])
        local bms = math.max(1, math.floor(window / 60))
        local cur = math.floor(now / bms)
        local all = redis.call('HGETALL', KEYS[1])
        local ids = {}
        local counts = {}
        local used = 0
        for i = 1, #all, 2 do
          local id = tonumber(all[i])
          local c = tonumber(all[i + 1])
          if id <= cur - 61 then
            redis.call('HDEL', KEYS[1], all[i])
          else
            if id == back_id and back > 0 then
              local b = math.min(back, c)
              c = c - b
              if c == 0 then redis.call('HDEL', KEYS[1], all[i]) else redis.call('HSET', KEYS[1], all[i], c) end
            end
            if c > 0 then
              ids[#ids + 1] = id
              counts[id] = c
              used = used + c
            end
          end
        end
        if seed > 0 then
          used = used + seed
          if counts[cur] == nil then ids[#ids + 1] = cur; counts[cur] = 0 end
          counts[cur] = counts[cur] + seed
          redis.call('HINCRBY', KEYS[1], cur, seed)
        end
        local free = limit - used
        local grant = 0
        if want > 0 and free > 0 then
          if free <= 64 then grant = 1 else grant = math.min(want, math.floor(free / 4)) end
          used = used + grant
          if counts[cur] == nil then ids[#ids + 1] = cur; counts[cur] = 0 end
          counts[cur] = counts[cur] + grant
          redis.call('HINCRBY', KEYS[1], cur, grant)
        end
        if used > 0 then redis.call('PEXPIRE', KEYS[1], window + 2 * bms) end
        table.sort(ids)
        local reset = 0
        local wait = 0
        local needed = used - limit + 1
        local released = 0
        for _, id in ipairs(ids) do
          local leaves = (id + 61) * bms - now
          if reset == 0 then reset = leaves end
          released = released + counts[id]
          if needed > 0 and wait == 0 and released >= needed then wait = leaves end
        end
        return { grant, limit - used, cur, bms, now, reset, wait }
        """;
}
