using Gateway.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// The quota and credit counters on Redis: each one Redis integer, <c>{prefix}q:{&lt;partition&gt;}</c> (its own
/// hash tag), leased by one script call (<see cref="RedisQuotaScripts.Lease"/>). A lease and a read of a counter are
/// request-path calls: they go through the process's <see cref="StoreCircuit"/> (bounded by <c>Store:Timeout</c>, failing
/// at once while Redis is down).
/// </summary>
internal sealed class RedisSharedQuotaStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, StoreCircuit? circuit = null) : ISharedQuotaStore
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    public async Task<QuotaLease> LeaseAsync(string partition, long limit, long need, long want, long floor, DateTimeOffset? expiresAt, long unreported)
    {
        var db = redis.GetDatabase();
        var result = (RedisResult[])(await Bounded(ct => RedisCalls.Guard(() => db.ScriptEvaluateAsync(
            RedisQuotaScripts.Lease,
            [_keys.QuotaCounter(partition)],
            [limit, need, want, floor, expiresAt?.ToUnixTimeMilliseconds() ?? 0, unreported]), ct)))!;
        return new QuotaLease((long)result[0], (long)result[1], (long)result[2]);
    }

    public async Task<long?> UsedAsync(string partition)
    {
        var db = redis.GetDatabase();
        var value = await Bounded(ct => RedisCalls.Guard(() => db.StringGetAsync(_keys.QuotaCounter(partition)), ct));
        return value.IsNull ? null : (long)value;
    }

    public async Task<long> AdjustAsync(string partition, long delta, DateTimeOffset? expiresAt)
    {
        var db = redis.GetDatabase();
        var used = await RedisCalls.Guard(() => db.StringIncrementAsync(_keys.QuotaCounter(partition), delta));
        if (expiresAt is { } at)
        {
            await RedisCalls.Guard(() => db.KeyExpireAsync(_keys.QuotaCounter(partition), at.UtcDateTime));
        }

        return used;
    }

    private Task<T> Bounded<T>(Func<CancellationToken, Task<T>> call) => circuit is null ? call(default) : circuit.RunAsync(call);

    /// <summary>
    /// Raises a counter on Redis to at least <paramref name="used"/> (never lowers it), for <c>migrate-store</c>
    /// copying the embedded store's counters: running it again counts nothing twice. Redis failures are not mapped:
    /// the command reports them itself.
    /// </summary>
    internal static Task RaiseAsync(IDatabase db, string redisPrefix, string partition, long used, DateTimeOffset? expiresAt) =>
        db.ScriptEvaluateAsync(RedisQuotaScripts.Raise, [new RedisKeys(redisPrefix).QuotaCounter(partition)], [used, expiresAt?.ToUnixTimeMilliseconds() ?? 0]);
}
