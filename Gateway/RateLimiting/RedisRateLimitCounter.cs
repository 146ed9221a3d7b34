using Gateway.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

/// <summary>
/// Limits shared by every instance on one Redis: an exact sliding log per partition (a sorted set of
/// request times, trimmed to the window) evaluated for all of a request's limits in one Lua script,
/// on Redis's own clock, so N instances together accept exactly the configured number whatever their
/// clocks say. When Redis does not answer, the per-instance counter takes over (never "no limits"),
/// and Redis is tried again after a short pause.
/// </summary>
internal sealed partial class RedisRateLimitCounter(
    IConnectionMultiplexer redis,
    LocalRateLimitCounter fallback,
    IOptions<GatewayOptions> options,
    ILogger<RedisRateLimitCounter> logger) : IRateLimitCounter
{
    // KEYS: one sorted set per limit. ARGV: mode ('peek'|'charge'), member, then limit and window (ms) per key.
    // Returns per key: allowed (1/0), remaining, milliseconds until the next release.
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local out = {}
        local all = 1
        for i = 1, #KEYS do
          local limit = tonumber(ARGV[1 + i * 2])
          local window = tonumber(ARGV[2 + i * 2])
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
          local count = redis.call('ZCARD', KEYS[i])
          local allowed = 1
          local wait = 0
          if count >= limit then
            allowed = 0
            all = 0
            local nth = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
            wait = tonumber(nth[2]) + window - now
          elseif count > 0 then
            local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
            wait = tonumber(oldest[2]) + window - now
          end
          out[#out + 1] = allowed
          out[#out + 1] = limit - count
          out[#out + 1] = wait
        end
        if all == 1 and ARGV[1] == 'charge' then
          for i = 1, #KEYS do
            local window = tonumber(ARGV[2 + i * 2])
            redis.call('ZADD', KEYS[i], now, ARGV[2])
            redis.call('PEXPIRE', KEYS[i], window)
            out[(i - 1) * 3 + 2] = out[(i - 1) * 3 + 2] - 1
            if out[(i - 1) * 3 + 3] == 0 then out[(i - 1) * 3 + 3] = window end
          end
        end
        return out
        """;

    private static readonly TimeSpan RetryRedisAfter = TimeSpan.FromSeconds(1);
    private readonly RedisKey _prefix = new RedisKey(options.Value.Store.RedisPrefix).Append("{rl}:");
    private long _redisDownUntil;

    public ValueTask<LimitDecision> PeekAsync(IReadOnlyList<LimitSpec> limits, CancellationToken cancellationToken) =>
        RunAsync(limits, charge: false, cancellationToken);

    public ValueTask<LimitDecision> AcquireAsync(IReadOnlyList<LimitSpec> limits, CancellationToken cancellationToken) =>
        RunAsync(limits, charge: true, cancellationToken);

    private async ValueTask<LimitDecision> RunAsync(IReadOnlyList<LimitSpec> limits, bool charge, CancellationToken cancellationToken)
    {
        // A monotonic clock: this back-off is about Redis's health, not about request time.
        var now = Environment.TickCount64;
        if (now >= Interlocked.Read(ref _redisDownUntil))
        {
            try
            {
                return await EvaluateAsync(limits, charge);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Interlocked.Exchange(ref _redisDownUntil, now + (long)RetryRedisAfter.TotalMilliseconds);
                Log.FallingBack(logger, ex);
            }
        }

        return charge
            ? await fallback.AcquireAsync(limits, cancellationToken)
            : await fallback.PeekAsync(limits, cancellationToken);
    }

    private async Task<LimitDecision> EvaluateAsync(IReadOnlyList<LimitSpec> limits, bool charge)
    {
        var keys = new RedisKey[limits.Count];
        var args = new RedisValue[2 + (limits.Count * 2)];
        args[0] = charge ? "charge" : "peek";
        args[1] = Guid.NewGuid().ToString("N");
        for (var i = 0; i < limits.Count; i++)
        {
            keys[i] = _prefix.Append(limits[i].Partition);
            args[2 + (i * 2)] = limits[i].PermitLimit;
            args[3 + (i * 2)] = (long)limits[i].Window.TotalMilliseconds;
        }

        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(Script, keys, args))!;
        var states = new LimitState[limits.Count];
        for (var i = 0; i < limits.Count; i++)
        {
            var allowed = (int)result[i * 3] == 1;
            var remaining = Math.Max(0, (int)result[(i * 3) + 1]);
            states[i] = new LimitState(limits[i], allowed && (charge || remaining > 0), remaining, TimeSpan.FromMilliseconds(Math.Max(0, (long)result[(i * 3) + 2])));
        }

        return new LimitDecision(states);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1500, Level = LogLevel.Warning, Message = "Redis did not answer the rate limiter; enforcing per-instance limits for now.")]
        public static partial void FallingBack(ILogger logger, Exception exception);
    }
}
