using StackExchange.Redis;

namespace Gateway.Stores.Redis;

internal static class RedisConnection
{
    /// <summary>
    /// Connects without failing when Redis is down (the gateway starts and serves what it can), with
    /// timeouts bounded by <c>Store:Timeout</c> so an outage costs requests milliseconds, not TCP timeouts.
    /// </summary>
    /// <param name="caFile">PEM file of the CA that signed Redis's TLS certificate (<c>Store:RedisCaFile</c>), validated at start.</param>
    public static IConnectionMultiplexer Connect(string configuration, TimeSpan timeout, string? caFile = null)
    {
        ConfigurationOptions options;
        try
        {
            options = ConfigurationOptions.Parse(configuration);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"{Configuration.GatewayOptions.SectionName}:Store:Redis: {ex.Message}", ex);
        }

        if (!string.IsNullOrWhiteSpace(caFile))
        {
            // Trusted for this connection only: the chain must end at this CA, and the host name must still match.
            options.TrustIssuer(RedisCertificateAuthority.Load(caFile).Certificate ?? throw new InvalidOperationException($"{Configuration.GatewayOptions.SectionName}:Store:RedisCaFile could not be read."));
        }

        var millis = (int)Math.Clamp(timeout.TotalMilliseconds, 100, 30_000);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = millis;
        options.SyncTimeout = millis;
        options.AsyncTimeout = millis;
        options.ConnectRetry = 1;
        options.ReconnectRetryPolicy = new LinearRetry(500);
        options.ClientName ??= "gateway";
        // The client's own broadcast channel for primary changes it initiates (the gateway never does) and its
        // tie-breaker key for several servers claiming to be primary (single server, Sentinel and Cluster never
        // need one): without them an ACL user needs no key or channel outside the prefix (docs/redis.md,
        // "Password and ACL user"). Either is kept when the connection string sets it.
        if (!configuration.Contains("configChannel=", StringComparison.OrdinalIgnoreCase))
        {
            options.ConfigurationChannel = "";
        }

        if (!configuration.Contains("tiebreaker=", StringComparison.OrdinalIgnoreCase))
        {
            options.TieBreaker = "";
        }

        // The client reads server settings with CONFIG GET when it may; the gateway needs none of them, and an
        // ACL user that may run CONFIG GET can read the server's passwords. A connection string with its own
        // command map ($NAME=) keeps it.
        if (!configuration.Contains('$', StringComparison.Ordinal))
        {
            options.CommandMap = CommandMap.Create(new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "CONFIG" }, available: false);
        }

        // While disconnected, fail at once instead of queueing until the timeout: callers have a
        // fallback (cache, per-instance limits) that beats waiting.
        options.BacklogPolicy = BacklogPolicy.FailFast;
        try
        {
            return ConnectionMultiplexer.Connect(options);
        }
        catch (RedisException ex) when (!string.IsNullOrEmpty(options.ServiceName))
        {
            // A single server or a cluster that does not answer is waited for; behind Sentinel the client must find
            // the primary through the sentinels at start, and says why it could not (wrong service name, no sentinel).
            throw new InvalidOperationException(
                $"{Configuration.GatewayOptions.SectionName}:Store:Redis: the sentinels named there did not give a primary for service '{options.ServiceName}': {ex.Message}", ex);
        }
    }
}
