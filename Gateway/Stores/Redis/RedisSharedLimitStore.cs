using Gateway.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// The rate limiter's shared counters on Redis: one script call (<see cref="RedisRateLimitScript"/>) per lease, through
/// the process's <see cref="StoreCircuit"/> (bounded by <c>Store:Timeout</c>, failing at once while Redis is down).
/// </summary>
internal sealed class RedisSharedLimitStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, StoreCircuit? circuit = null) : ISharedLimitStore
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    public string PartitionKey(string partition, long windowMs) => _keys.RateLimitPartition(partition, windowMs);

    public async Task<LimitLease> LeaseAsync(string partitionKey, long limit, long windowMs, long want, long backBucket, int back, int seed, int ahead = 0)
    {
        var db = redis.GetDatabase();
        Task<RedisResult> Call(CancellationToken ct) => RedisCalls.Guard(
            () => db.ScriptEvaluateAsync(RedisRateLimitScript.Lease, [partitionKey], [limit, windowMs, want, backBucket, back, seed, ahead]), ct);
        var result = (RedisResult[])(await (circuit is null ? Call(default) : circuit.RunAsync(Call)))!;

        return new LimitLease((int)result[0], (int)result[1], (long)result[2], (long)result[3], (long)result[4], (long)result[5], (long)result[6]);
    }
}
