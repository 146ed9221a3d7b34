using Gateway.Configuration;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.AdminSessions;

/// <summary>Ended console sessions in Redis: a key per session under the store's prefix, expiring when the session would have.</summary>
internal sealed class RedisEndedSessionStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, TimeProvider time) : IEndedSessionStore
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    public Task EndAsync(string sessionId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var left = until - time.GetUtcNow();
        return left <= TimeSpan.Zero
            ? Task.CompletedTask
            : RedisCalls.Guard(() => redis.GetDatabase().StringSetAsync(_keys.EndedAdminSession(sessionId), "1", left), cancellationToken);
    }

    public Task<bool> IsEndedAsync(string sessionId, DateTimeOffset now, CancellationToken cancellationToken) =>
        RedisCalls.Guard(() => redis.GetDatabase().KeyExistsAsync(_keys.EndedAdminSession(sessionId)), cancellationToken);
}
