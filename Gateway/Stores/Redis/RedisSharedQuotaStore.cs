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
    /// Carries an embedded store's counter over for <c>migrate-store</c>: the first copy sets Redis's count, a later one
    /// adds what SQLite's count moved since the copy before (up for usage, down for credits added there), so what gateways
    /// on Redis counted meanwhile is kept and nothing is counted twice. The SQLite count carried is kept beside the counter
    /// (<see cref="RedisKeys.QuotaCopied"/>), expiring with it. Redis failures are not mapped: the command reports them itself.
    /// </summary>
    internal static Task CarryAsync(IDatabase db, string redisPrefix, string partition, long used, DateTimeOffset? expiresAt)
    {
        var keys = new RedisKeys(redisPrefix);
        return db.ScriptEvaluateAsync(RedisQuotaScripts.Carry, [keys.QuotaCounter(partition), keys.QuotaCopied(partition)], [used, expiresAt?.ToUnixTimeMilliseconds() ?? 0]);
    }
}
