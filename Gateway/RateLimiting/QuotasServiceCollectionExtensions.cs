using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

internal static class QuotasServiceCollectionExtensions
{
    /// <summary>Quotas and credits: leased from Redis, or counted here and persisted in SQLite; and the charger that runs them after the rate limits.</summary>
    public static IServiceCollection AddGatewayQuotas(this IServiceCollection services, bool redis)
    {
        services.TryAddSingleton<IQuotaEvents, LoggingQuotaEvents>();
        if (redis)
        {
            services.TryAddSingleton<IQuotaCounter>(sp => new RedisQuotaCounter(
                sp.GetRequiredService<IConnectionMultiplexer>(),
                sp.GetRequiredService<IQuotaEvents>(),
                sp.GetRequiredService<IOptions<GatewayOptions>>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<RedisQuotaCounter>>()));
        }
        else
        {
            services.TryAddSingleton<IQuotaCounterStore, SqliteQuotaCounterStore>();
            services.TryAddSingleton(sp => new LocalQuotaCounter(
                sp.GetRequiredService<IQuotaCounterStore>(),
                sp.GetRequiredService<IQuotaEvents>(),
                sp.GetRequiredService<TimeProvider>()));
            services.TryAddSingleton<IQuotaCounter>(sp => sp.GetRequiredService<LocalQuotaCounter>());
            services.TryAddSingleton<QuotaCounterFlusher>();
            services.AddHostedService(sp => sp.GetRequiredService<QuotaCounterFlusher>());
        }

        services.TryAddSingleton<LimitCharger>();
        return services;
    }
}
