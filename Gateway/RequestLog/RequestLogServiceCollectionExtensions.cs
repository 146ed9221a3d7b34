using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

internal static class RequestLogServiceCollectionExtensions
{
    /// <summary>Binds <c>Gateway:RequestLog</c>; registers the store (the key store's kind), the writer, the proxy's observer that feeds it, the OTLP export and the admin endpoints.</summary>
    public static IServiceCollection AddGatewayRequestLog(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGatewaySettings<RequestLogOptions>(configuration, RequestLogOptions.SectionName)
            .PostConfigure<StoreSelection>((options, store) => options.BatchSize ??=
                store.Kind == GatewayStoreKind.Redis ? RequestLogOptions.RedisBatchSize : RequestLogOptions.SqliteBatchSize);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RequestLogOptions>, RequestLogOptionsValidator>());
        services.TryAddFeatureStore<IRequestLogStore, SqliteRequestLogStore, RedisRequestLogStore>();

        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RequestLogOptions>>().Value;
            return RequestLogExport.FromConfiguration(configuration, options.Enabled && options.Otlp);
        });
        services.TryAddSingleton<RequestLogWriter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IProxyRequestObserver, RequestLogObserver>());
        services.AddHostedService(sp => sp.GetRequiredService<RequestLogWriter>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminApi, RequestLogEndpoints>());
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, RequestLogJsonContext.Default));
        return services;
    }
}
