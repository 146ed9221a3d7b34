using System.Net;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// Behind Sentinel, keeps admin writes off a server that answers as a primary though the sentinels name another: a
/// primary that died and came back before the sentinels made it a replica (it starts as the primary its own
/// settings say it is). The client keeps such a server among its primaries and spreads writes over both, and
/// the sentinels then make it a replica and wipe what it took: created keys vanished and revocations were undone.
/// While the two disagree, admin writes answer 503 <c>store_unavailable</c> instead.
/// </summary>
internal sealed class SentinelPrimaryGuard(string configuration, string service, IConnectionMultiplexer redis) : IDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _sentinels = new(() => ConnectSentinelsAsync(configuration));

    /// <summary>A guard for a Sentinel connection string (<c>serviceName=</c>); null for any other.</summary>
    public static SentinelPrimaryGuard? For(string? configuration, IConnectionMultiplexer redis) =>
        !string.IsNullOrWhiteSpace(configuration) && ConfigurationOptions.Parse(configuration).ServiceName is { Length: > 0 } service
            ? new SentinelPrimaryGuard(configuration, service, redis)
            : null;

    /// <summary>
    /// Throws <see cref="StoreUnavailableException"/> when a server the client would write to is not the primary the
    /// sentinels name. Sentinels that do not answer are no reason to refuse: the client follows them by itself.
    /// </summary>
    public async Task EnsureOnePrimaryAsync(CancellationToken cancellationToken)
    {
        var named = await NamedPrimaryAsync().WaitAsync(cancellationToken);
        if (named is null || Other(named) is null)
        {
            return;
        }

        // The client learns roles on its own schedule: one the sentinels have already demoted is then seen as a replica.
        await redis.ConfigureAsync().WaitAsync(cancellationToken);
        if (Other(named) is { } other)
        {
            throw new StoreUnavailableException(
                $"Redis at {Text(other)} answers as a primary, but the sentinels name {Text(named)}; admin writes wait until the sentinels have made it a replica.");
        }
    }

    public void Dispose()
    {
        if (_sentinels.IsValueCreated && _sentinels.Value.IsCompletedSuccessfully)
        {
            _sentinels.Value.Result.Dispose();
        }
    }

    private EndPoint? Other(EndPoint named) =>
        redis.GetServers().Where(s => s.IsConnected && !s.IsReplica).Select(s => s.EndPoint).FirstOrDefault(e => !Same(e, named));

    private async Task<EndPoint?> NamedPrimaryAsync()
    {
        try
        {
            var sentinels = await _sentinels.Value;
            foreach (var sentinel in sentinels.GetServers().Where(s => s.IsConnected))
            {
                if (await sentinel.SentinelGetMasterAddressByNameAsync(service) is { } primary)
                {
                    return primary;
                }
            }
        }
        catch (Exception ex) when (RedisCalls.IsFailure(ex))
        {
        }

        return null;
    }

    private static async Task<ConnectionMultiplexer> ConnectSentinelsAsync(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.CommandMap = CommandMap.Sentinel;
        options.AbortOnConnectFail = false;
        options.TieBreaker = "";
        options.ConfigurationChannel = "";
        options.ClientName ??= "gateway-sentinel-check";
        return await ConnectionMultiplexer.SentinelConnectAsync(options);
    }

    private static bool Same(EndPoint a, EndPoint b) => Text(a) == Text(b);

    private static string Text(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip => (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address) + ":" + ip.Port,
        DnsEndPoint dns => dns.Host + ":" + dns.Port,
        _ => endPoint.ToString() ?? "",
    };
}
