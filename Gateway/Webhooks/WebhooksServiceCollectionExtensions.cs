using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Keys;
using Gateway.RateLimiting;
using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

internal static class WebhooksServiceCollectionExtensions
{
    /// <summary>
    /// Binds <c>Gateway:Webhooks</c>; registers the store (the key store's kind), the publisher (also the key
    /// manager's <see cref="IKeyEvents"/> listener), the dispatcher, the expiry scan and the admin endpoints.
    /// </summary>
    public static IServiceCollection AddGatewayWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGatewaySettings<WebhookOptions>(configuration, WebhookOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>());
        services.TryAddFeatureStore<IWebhookStore, SqliteWebhookStore, RedisWebhookStore>();

        services.TryAddSingleton<IWebhookDns, SystemWebhookDns>();
        services.TryAddSingleton<WebhookUrlGuard>();
        services.TryAddSingleton<WebhookSignal>();
        services.TryAddSingleton<WebhookPublisher>();
        services.TryAddSingleton<IWebhookPublisher>(sp => sp.GetRequiredService<WebhookPublisher>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IKeyEvents, WebhookPublisher>(sp => sp.GetRequiredService<WebhookPublisher>()));
        // Replaces the quota counters' logging-only default, registered before this.
        services.TryAddSingleton<LoggingQuotaEvents>();
        services.Replace(ServiceDescriptor.Singleton<IQuotaEvents, WebhookQuotaEvents>());
        services.TryAddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.TryAddSingleton<KeyExpiryScanner>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyExpiryScanner>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminApi, WebhookEndpoints>());
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, WebhookJsonContext.Default));
        return services;
    }
}
