using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Gateway.Stores;

namespace Gateway.RateLimiting;

public static class RateLimitingServiceCollectionExtensions
{
    /// <summary>Per-instance limits, or limits shared by every instance when the store offers shared counters (Redis).</summary>
    public static IServiceCollection AddGatewayRateLimiting(this IServiceCollection services)
    {
        services.TryAddSingleton<RateLimitPolicyResolver>();
        // The sketch's size is fixed at start (a reload does not resize it).
        services.TryAddSingleton(sp => new LocalRateLimitCounter(
            sp.GetRequiredService<TimeProvider>(),
            LocalRateLimitCounter.DefaultMaxPartitions,
            sp.GetRequiredService<IOptions<GatewayOptions>>().Value.RateLimits.Ip.MaxMemoryMB * 1024L * 1024L,
            sp.GetService<Observability.GatewayMetrics>(),
            sp.GetRequiredService<ILogger<LocalRateLimitCounter>>()));
        services.TryAddSingleton<IRateLimitCounter>(sp => sp.GetService<ISharedLimitStore>() is { } shared
            ? new RedisRateLimitCounter(
                shared,
                sp.GetRequiredService<LocalRateLimitCounter>(),
                sp.GetRequiredService<IOptions<GatewayOptions>>(),
                sp.GetRequiredService<ILogger<RedisRateLimitCounter>>(),
                sp.GetService<Observability.GatewayMetrics>())
            : sp.GetRequiredService<LocalRateLimitCounter>());

        services.TryAddSingleton<IpLimitGate>();
        services.TryAddKeyedSingleton(IpLimitGate.Admin, static (sp, _) => new IpLimitGate(
            new LocalRateLimitCounter(sp.GetRequiredService<TimeProvider>()),
            sp.GetRequiredService<RateLimitPolicyResolver>(),
            sp.GetRequiredService<ClientIpResolver>(),
            sp.GetRequiredService<IOptionsMonitor<GatewayOptions>>(),
            sp.GetRequiredService<Gateway.Observability.GatewayMetrics>()));
        return services;
    }
}
