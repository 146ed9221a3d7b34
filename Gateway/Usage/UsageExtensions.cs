using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Usage;

public static class UsageExtensions
{
    /// <summary>Per-key usage counters, their flusher and the store they flush to (the same kind as the key store).</summary>
    public static IServiceCollection AddGatewayUsage(this IServiceCollection services, bool redis)
    {
        services.TryAddSingleton<UsageCounters>();
        if (redis)
        {
            services.TryAddSingleton<IUsageStore, RedisUsageStore>();
        }
        else
        {
            services.TryAddSingleton<IUsageStore, SqliteUsageStore>();
        }

        services.TryAddSingleton<UsageFlusher>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageFlusher>());
        services.TryAddSingleton<UsageQueries>();
        return services;
    }

    /// <summary>
    /// Counts every proxied request by key (or route) and outcome. Goes first in the proxy pipeline so it
    /// sees the final status, after the guard has turned upstream failures into problems. Adds nothing
    /// when <c>Gateway:Usage:Enabled</c> is false.
    /// </summary>
    public static IApplicationBuilder UseUsageCounting(this IApplicationBuilder builder)
    {
        if (builder.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(UsageCounters)) != true)
        {
            throw new InvalidOperationException("UseUsageCounting requires AddGatewayUsage() to be called on the service collection.");
        }

        // Read from configuration, not options, so a bad setting is still reported by options validation at start.
        var enabled = builder.ApplicationServices.GetRequiredService<IConfiguration>()["Gateway:Usage:Enabled"];
        return bool.TryParse(enabled, out var on) && !on ? builder : builder.UseMiddleware<UsageMiddleware>();
    }
}
