using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Keys;

internal static class KeysServiceCollectionExtensions
{
    /// <summary>
    /// The key cache with its warm-up at start, lifecycle and usage tracking, and the subscription to the store's
    /// change feed that drops keys other instances changed from this cache (with the embedded store nothing arrives).
    /// </summary>
    public static IServiceCollection AddGatewayKeys(this IServiceCollection services)
    {
        services.TryAddSingleton<KeyResolver>();
        services.TryAddSingleton<KeyManager>();
        services.TryAddSingleton<KeyUsageTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyUsageTracker>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KeyChangeSubscriber>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KeyCacheWarmUp>());
        return services;
    }
}
