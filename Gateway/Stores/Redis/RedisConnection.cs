using StackExchange.Redis;

namespace Gateway.Stores.Redis;

internal static class RedisConnection
{
    /// <summary>
    /// Connects without failing when Redis is down (the gateway starts and serves what it can), with
    /// timeouts bounded by <c>Store:Timeout</c> so an outage costs requests milliseconds, not TCP timeouts.
    /// </summary>
    public static IConnectionMultiplexer Connect(string configuration, TimeSpan timeout)
    {
        var options = ConfigurationOptions.Parse(configuration);
        var millis = (int)Math.Clamp(timeout.TotalMilliseconds, 100, 30_000);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = millis;
        options.SyncTimeout = millis;
        options.AsyncTimeout = millis;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(500);
        options.ClientName ??= "gateway";
        // While disconnected, fail at once instead of queueing until the timeout: callers have a
        // fallback (cache, per-instance limits) that beats waiting.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        return ConnectionMultiplexer.Connect(options);
    }
}
