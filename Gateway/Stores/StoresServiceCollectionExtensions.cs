using Gateway.Configuration;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Stores;

internal static class StoresServiceCollectionExtensions
{
    /// <summary>
    /// The embedded SQLite store, unless <paramref name="redis"/> (<c>Gateway:Store:Redis</c>) is set: then
    /// Redis, shared by every instance. Either way the schema is created before the host starts anything else.
    /// </summary>
    public static IServiceCollection AddGatewayStores(this IServiceCollection services, string? redis)
    {
        if (string.IsNullOrWhiteSpace(redis))
        {
            services.TryAddSingleton<IGatewayStore, SqliteGatewayStore>();
            services.TryAddSingleton<IKeyChangeNotifier, NullKeyChangeNotifier>();
            services.TryAddSingleton<IKeyChangeFeed, NullKeyChangeFeed>();
        }
        else
        {
            // One multiplexer per process, shared by the store, the invalidation channel and the rate limiter.
            services.TryAddSingleton<IConnectionMultiplexer>(sp =>
            {
                var store = sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Store;
                return RedisConnection.Connect(redis, store.Timeout, store.RedisCaFile);
            });
            services.TryAddSingleton<IGatewayStore, RedisGatewayStore>();
            services.TryAddSingleton<RedisKeyChangePublisher>();
            services.TryAddSingleton<IKeyChangeNotifier>(sp => sp.GetRequiredService<RedisKeyChangePublisher>());
            services.AddHostedService(sp => sp.GetRequiredService<RedisKeyChangePublisher>());
            services.TryAddSingleton<IKeyChangeFeed, RedisKeyChangeFeed>();
            services.TryAddSingleton<ISharedLimitStore, RedisSharedLimitStore>();
        }

        services.TryAddSingleton<IKeyLookup>(sp => sp.GetRequiredService<IGatewayStore>());
        services.TryAddSingleton<IKeyUsageRecorder>(sp => sp.GetRequiredService<IGatewayStore>());
        services.TryAddSingleton<StoreResilience>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, RedisCaFileValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StoreInitializer>());
        return services;
    }
}
