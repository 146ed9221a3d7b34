namespace Gateway.Stores.Redis;

/// <summary>
/// The rate limiter's one script (Gateway/RateLimiting/RedisRateLimitCounter): charges and gives back a
/// lease of permits on one partition's hash of per-bucket counts, reading Redis's clock.
/// </summary>
internal static class RedisRateLimitScript
{
    // KEYS[1]: the partition's hash {bucket id -> permits} for one window length (its name holds the window: bucket ids
    // are Redis time over a sixtieth of the window, so another window's ids would be misread here), plus its running total (field -1) and the oldest bucket
    // id that may be in it (field -2), so a call reads and writes a handful of fields instead of the whole hash:
    // buckets that left the window are found by walking from the oldest one forward, which across calls visits each
    // bucket once; after four empty buckets the hash is sparse, and its few fields are counted afresh instead (one
    // HGETALL rather than up to 30 HGETs behind a lease charged far ahead). A hash without the two (new, or written by a version before them, whose script deletes them
    // as long-gone buckets) is counted in full once. ARGV: limit, window (ms), permits wanted,
    // bucket and count of permits given back, permits to charge whatever is left (an address's count from the
    // per-instance sketch, when it is promoted to a partition of its own), and how many buckets ahead a grant may be
    // charged (at most 30). Returns: granted, permits left after the grant, the bucket the grant was charged to (else
    // the current one), bucket length (ms), Redis time (ms), ms until the oldest counted bucket leaves the window,
    // ms until a permit is free again (when none is).
    //
    // A grant charged to a later bucket is counted from now until that bucket leaves the window, which holds every
    // moment its permits can be used (until that bucket ends): never more than the limit, only counted up to `ahead`
    // buckets longer. So it is done only far from the limit (64 permits left after the grant, and at most half of
    // the limit used: then up to 4 buckets ahead; at most a sixteenth: `ahead`, up to half the window), where the
    // longer count does not refuse a partition that stays there and holds back at most that share of the limit
    // after it leaves, and it lets a lease last several buckets: a partition with a request or two per bucket made
    // a trip per request when each lease ended with its bucket. No bucket in the hash is past cur + most, so the
    // walks below stop there.
    public const string Lease = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local want = tonumber(ARGV[3])
        local back_id = tonumber(ARGV[4])
        local back = tonumber(ARGV[5])
        local seed = tonumber(ARGV[6])
        local most = 30
        local ahead = math.min(tonumber(ARGV[7] or '0'), most)
        local key = KEYS[1]
        local bms = math.max(1, math.floor(window / 60))
        local cur = math.floor(now / bms)
        local first = cur - 60
        local meta = redis.call('HMGET', key, '-1', '-2')
        local used = tonumber(meta[1])
        local lo = tonumber(meta[2])
        local function recount()
          used = 0
          lo = cur + most + 1
          local all = redis.call('HGETALL', key)
          for i = 1, #all, 2 do
            local id = tonumber(all[i])
            if id < first then
              redis.call('HDEL', key, all[i])
            else
              used = used + tonumber(all[i + 1])
              if id < lo then lo = id end
            end
          end
        end
        if used == nil or lo == nil or lo < first - 200 or lo > cur + most + 1 then
          recount()
        end
        if back > 0 and back_id >= first then
          local c = redis.call('HGET', key, back_id)
          if c then
            c = tonumber(c)
            local b = math.min(back, c)
            used = used - b
            if c == b then redis.call('HDEL', key, back_id) else redis.call('HSET', key, back_id, c - b) end
          end
        end
        -- A few steps find the oldest bucket of a busy partition; past them the hash is sparse (a lease charged far
        -- ahead leaves up to 30 empty buckets behind it), and counting its few fields afresh is cheaper than the walk.
        local steps = 0
        while lo <= cur + most do
          if steps == 4 then
            recount()
            break
          end
          local c = redis.call('HGET', key, lo)
          if c and lo >= first then break end
          if c then
            used = used - tonumber(c)
            redis.call('HDEL', key, lo)
          end
          lo = lo + 1
          steps = steps + 1
        end
        if seed > 0 then
          used = used + seed
          redis.call('HINCRBY', key, cur, seed)
          if cur < lo then lo = cur end
        end
        local free = limit - used
        local grant = 0
        local charged = cur
        if want > 0 and free > 0 then
          if free <= 64 then grant = 1 else grant = math.min(want, math.floor(free / 4)) end
          used = used + grant
          if ahead > 0 and limit - used >= 64 then
            if 16 * used <= limit then
              charged = cur + ahead
            elseif 2 * used <= limit then
              charged = cur + math.min(ahead, 4)
            end
          end
          redis.call('HINCRBY', key, charged, grant)
          if charged < lo then lo = charged end
        end
        local reset = 0
        if used > 0 then
          redis.call('HSET', key, '-1', used, '-2', lo)
          redis.call('PEXPIRE', key, window + (most + 2) * bms)
          reset = (lo + 61) * bms - now
        else
          redis.call('HDEL', key, '-1', '-2')
        end
        local wait = 0
        local needed = used - limit + 1
        if needed > 0 then
          local released = 0
          for id = lo, cur + most do
            local c = redis.call('HGET', key, id)
            if c then
              released = released + tonumber(c)
              if released >= needed then
                wait = (id + 61) * bms - now
                break
              end
            end
          end
        end
        return { grant, limit - used, charged, bms, now, reset, wait }
        """;
}
