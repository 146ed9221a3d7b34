using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Usage;

public static class UsageServiceCollectionExtensions
{
    /// <summary>Per-key usage counters, their flusher and the store they flush to (the same kind as the key store).</summary>
    public static IServiceCollection AddGatewayUsage(this IServiceCollection services)
    {
        services.TryAddSingleton<UsageCounters>();
        services.TryAddFeatureStore<IUsageStore, SqliteUsageStore, RedisUsageStore>();

        services.TryAddSingleton<UsageFlusher>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageFlusher>());
        services.TryAddSingleton<UsageQueries>();
        return services;
    }

    /// <summary>
    /// Whether proxied requests are counted (the proxy outcome stage records them once each request's outcome is
    /// final). False when <c>Gateway:Usage:Enabled</c> is false.
    /// </summary>
    internal static bool CountsUsage(IServiceProvider services)
    {
        if (services.GetService<IServiceProviderIsService>()?.IsService(typeof(UsageCounters)) != true)
        {
            throw new InvalidOperationException("The proxy pipeline requires AddGatewayUsage() to be called on the service collection.");
        }

        // Read from configuration, not options, so a bad setting is still reported by options validation at start.
        var enabled = services.GetRequiredService<IConfiguration>()["Gateway:Usage:Enabled"];
        return !bool.TryParse(enabled, out var on) || on;
    }
}
