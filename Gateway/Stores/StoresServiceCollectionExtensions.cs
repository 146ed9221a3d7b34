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
        var kind = string.IsNullOrWhiteSpace(redis) ? GatewayStoreKind.Sqlite : GatewayStoreKind.Redis;
        services.TryAddSingleton(new StoreSelection(kind));
        if (kind == GatewayStoreKind.Sqlite)
        {
            services.TryAddSingleton<SqliteBackgroundWriter>();
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
                return RedisConnection.Connect(redis!, store.Timeout, store.RedisCaFile);
            });
            services.TryAddSingleton<IGatewayStore, RedisGatewayStore>();
            // One view of whether Redis answers for every request-path call, probed with the store's own ping.
            services.TryAddSingleton(sp => new StoreCircuit(
                sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Store.Timeout,
                ct => sp.GetRequiredService<IGatewayStore>().PingAsync(ct),
                sp.GetRequiredService<ILogger<StoreCircuit>>()));
            services.TryAddSingleton<RedisKeyChangePublisher>();
            services.TryAddSingleton<IKeyChangeNotifier>(sp => sp.GetRequiredService<RedisKeyChangePublisher>());
            services.AddHostedService(sp => sp.GetRequiredService<RedisKeyChangePublisher>());
            services.TryAddSingleton<IKeyChangeFeed, RedisKeyChangeFeed>();
            services.TryAddSingleton<ISharedLimitStore, RedisSharedLimitStore>();
            services.TryAddSingleton<ISharedQuotaStore, RedisSharedQuotaStore>();
        }

        services.TryAddSingleton<IKeyLookup>(sp => sp.GetRequiredService<IGatewayStore>());
        services.TryAddSingleton<IKeyUsageRecorder>(sp => sp.GetRequiredService<IGatewayStore>());
        services.TryAddSingleton<StoreResilience>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, RedisCaFileValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, RedisConnectionStringValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, StoreInitializer>());
        return services;
    }

    /// <summary>
    /// A feature's own store behind its own interface: <typeparamref name="TSqlite"/> on the embedded store,
    /// <typeparamref name="TRedis"/> on Redis. The feature keeps both implementations; which one runs is decided here.
    /// </summary>
    public static IServiceCollection TryAddFeatureStore<TService, TSqlite, TRedis>(this IServiceCollection services)
        where TService : class
        where TSqlite : class, TService
        where TRedis : class, TService =>
        services.AddFeatureStore(
            sqlite: static s => s.TryAddSingleton<TService, TSqlite>(),
            redis: static s => s.TryAddSingleton<TService, TRedis>());

    /// <summary>
    /// A feature's storage that is more than one service (a counter and its flusher, say): runs
    /// <paramref name="sqlite"/> or <paramref name="redis"/>, for the store <see cref="AddGatewayStores"/> chose.
    /// </summary>
    public static IServiceCollection AddFeatureStore(this IServiceCollection services, Action<IServiceCollection> sqlite, Action<IServiceCollection> redis)
    {
        (Kind(services) == GatewayStoreKind.Redis ? redis : sqlite)(services);
        return services;
    }

    private static GatewayStoreKind Kind(IServiceCollection services) =>
        services.LastOrDefault(d => d.ServiceType == typeof(StoreSelection) && !d.IsKeyedService)?.ImplementationInstance is StoreSelection selection
            ? selection.Kind
            : throw new InvalidOperationException("A feature's store is registered after AddGatewayStores(), which decides the store kind.");
}
