using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

public static class RateLimitingExtensions
{
    /// <summary>Per-instance limits, or limits shared through Redis when the store is Redis.</summary>
    public static IServiceCollection AddGatewayRateLimiting(this IServiceCollection services, bool redis)
    {
        services.TryAddSingleton<ClientIpResolver>();
        services.TryAddSingleton<RateLimitPolicyResolver>();
        // The sketch's size is fixed at start (a reload does not resize it).
        services.TryAddSingleton(sp => new LocalRateLimitCounter(
            sp.GetRequiredService<TimeProvider>(),
            LocalRateLimitCounter.DefaultMaxPartitions,
            sp.GetRequiredService<IOptions<GatewayOptions>>().Value.RateLimits.Ip.MaxMemoryMB * 1024L * 1024L,
            sp.GetService<Observability.GatewayMetrics>(),
            sp.GetRequiredService<ILogger<LocalRateLimitCounter>>()));
        if (redis)
        {
            services.TryAddSingleton<IRateLimitCounter>(sp => new RedisRateLimitCounter(
                sp.GetRequiredService<IConnectionMultiplexer>(),
                sp.GetRequiredService<LocalRateLimitCounter>(),
                sp.GetRequiredService<IOptions<GatewayOptions>>(),
                sp.GetRequiredService<ILogger<RedisRateLimitCounter>>()));
        }
        else
        {
            services.TryAddSingleton<IRateLimitCounter>(sp => sp.GetRequiredService<LocalRateLimitCounter>());
        }

        // Quotas and credits: leased from Redis, or counted here and persisted in SQLite.
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
        services.TryAddSingleton<IpLimitGate>();
        services.TryAddKeyedSingleton(IpLimitGate.Admin, static (sp, _) => new IpLimitGate(
            new LocalRateLimitCounter(sp.GetRequiredService<TimeProvider>()),
            sp.GetRequiredService<RateLimitPolicyResolver>(),
            sp.GetRequiredService<ClientIpResolver>(),
            sp.GetRequiredService<IOptionsMonitor<GatewayOptions>>(),
            sp.GetRequiredService<Gateway.Observability.GatewayMetrics>()));
        return services;
    }

    /// <summary>The IP limit; goes before key authentication in the proxy pipeline.</summary>
    public static IApplicationBuilder UseIpRateLimit(this IApplicationBuilder builder) =>
        Required(builder).UseMiddleware<IpRateLimitMiddleware>();

    /// <summary>The workspace (or route policy) and per-key limits, charged with the IP limit; goes after key authentication.</summary>
    public static IApplicationBuilder UseRateLimits(this IApplicationBuilder builder) =>
        Required(builder).UseMiddleware<RequestRateLimitMiddleware>();

    private static IApplicationBuilder Required(IApplicationBuilder builder) =>
        builder.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(RateLimitPolicyResolver)) == true
            ? builder
            : throw new InvalidOperationException("UseIpRateLimit/UseRateLimits require AddGatewayRateLimiting() on the service collection.");
}
