using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.RateLimiting;

internal static class QuotasServiceCollectionExtensions
{
    /// <summary>Quotas and credits: leased from Redis, or counted here and persisted in SQLite; and the charger that runs them after the rate limits.</summary>
    public static IServiceCollection AddGatewayQuotas(this IServiceCollection services)
    {
        services.TryAddSingleton<IQuotaEvents, LoggingQuotaEvents>();
        services.AddFeatureStore(
            sqlite: static services =>
            {
                services.TryAddSingleton<IQuotaCounterStore, SqliteQuotaCounterStore>();
                services.TryAddSingleton(sp => new LocalQuotaCounter(
                    sp.GetRequiredService<IQuotaCounterStore>(),
                    sp.GetRequiredService<IQuotaEvents>(),
                    sp.GetRequiredService<TimeProvider>()));
                services.TryAddSingleton<IQuotaCounter>(sp => sp.GetRequiredService<LocalQuotaCounter>());
                services.TryAddSingleton<QuotaCounterFlusher>();
                services.AddHostedService(sp => sp.GetRequiredService<QuotaCounterFlusher>());
            },
            redis: static services => services.TryAddSingleton<IQuotaCounter, RedisQuotaCounter>());

        services.TryAddSingleton<LimitCharger>();
        return services;
    }
}
