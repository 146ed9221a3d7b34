using Microsoft.Extensions.DependencyInjection.Extensions;
using Gateway.Http;

namespace Gateway.Admin;

internal static class AdminServiceCollectionExtensions
{
    /// <summary>The admin token, the key object's live view (<see cref="KeyViews"/>), the admin caller's address, the failed-attempt throttle, the admin API's filters, its OpenAPI document and the matcher policy that keeps admin endpoints off the proxy listener.</summary>
    public static IServiceCollection AddGatewayAdmin(this IServiceCollection services)
    {
        services.TryAddSingleton<AdminToken>();
        services.TryAddSingleton<KeyViews>();
        services.TryAddSingleton<AdminClientAddress>();
        services.TryAddSingleton<AdminAuthThrottle>();
        services.TryAddSingleton<AdminNoStoreFilter>();
        services.TryAddSingleton<AdminCrossSiteFilter>();
        services.TryAddSingleton<AdminTokenFilter>();
        services.TryAddSingleton<AdminErrorFilter>();
        services.TryAddSingleton<AdminAuthorizationFilter>();
        services.TryAddSingleton<IAdminTokenAuthenticator, NoAdminTokens>();
        services.TryAddSingleton<IAdminSessionAuthenticator, NoAdminSessions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, ListenerMatcherPolicy>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, AdminTokenInitializer>());
        services.AddGatewayAdminOpenApi();
        return services;
    }
}

/// <summary>
/// Resolves (and, when none is configured or saved, generates) the admin token at start, not on the first admin call.
/// In <see cref="StartingAsync"/>: after the store's directory exists (StoreInitializer, registered before) and before
/// Data Protection's hosted service loads the session key ring, which is encrypted under a key derived from this token;
/// an unusable token file then stops the start with one message instead of that service's stack traces.
/// </summary>
internal sealed class AdminTokenInitializer(AdminToken token) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _ = token.Value;
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
