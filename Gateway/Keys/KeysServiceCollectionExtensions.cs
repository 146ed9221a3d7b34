using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Keys;

internal static class KeysServiceCollectionExtensions
{
    /// <summary>
    /// The key cache, lifecycle and usage tracking; with a shared (<paramref name="redis"/>) store also the
    /// subscription that drops keys other instances changed from this cache.
    /// </summary>
    public static IServiceCollection AddGatewayKeys(this IServiceCollection services, bool redis)
    {
        services.TryAddSingleton<KeyResolver>();
        services.TryAddSingleton<KeyManager>();
        services.TryAddSingleton<KeyUsageTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyUsageTracker>());

        if (redis)
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KeyChangeSubscriber>());
        }

        return services;
    }
}
