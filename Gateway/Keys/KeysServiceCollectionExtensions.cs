using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Keys;

internal static class KeysServiceCollectionExtensions
{
    /// <summary>
    /// The key cache, lifecycle and usage tracking; with a shared (<paramref name="redis"/>) store also the
    /// channel that tells other instances about key changes and drops theirs from this cache.
    /// </summary>
    public static IServiceCollection AddGatewayKeys(this IServiceCollection services, bool redis)
    {
        services.TryAddSingleton<KeyResolver>();
        services.TryAddSingleton<KeyManager>();
        services.TryAddSingleton<KeyUsageTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyUsageTracker>());

        if (redis)
        {
            services.TryAddSingleton<RedisKeyChangeNotifier>();
            services.TryAddSingleton<IKeyChangeNotifier>(sp => sp.GetRequiredService<RedisKeyChangeNotifier>());
            services.AddHostedService(sp => sp.GetRequiredService<RedisKeyChangeNotifier>());
        }

        return services;
    }
}
