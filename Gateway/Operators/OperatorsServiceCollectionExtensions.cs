using Gateway.Admin;
using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Operators;

internal static class OperatorsServiceCollectionExtensions
{
    /// <summary>
    /// Operator tokens: their store (the same kind as the key store), the authenticator the admin token filter
    /// asks about tokens that are not the bootstrap token, and <c>/admin/tokens</c>. Call before <c>AddGatewayAdmin</c>,
    /// whose default authenticator knows no tokens.
    /// </summary>
    public static IServiceCollection AddGatewayOperators(this IServiceCollection services)
    {
        services.TryAddFeatureStore<IOperatorTokenStore, SqliteOperatorTokenStore, RedisOperatorTokenStore>();

        services.TryAddSingleton<OperatorTokenAuthenticator>();
        services.TryAddSingleton<IAdminTokenAuthenticator>(sp => sp.GetRequiredService<OperatorTokenAuthenticator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminApi, OperatorEndpoints>());
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, OperatorJsonContext.Default));
        return services;
    }
}
