using Gateway.Admin;
using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

internal static class RequestLogServiceCollectionExtensions
{
    /// <summary>Binds <c>Gateway:RequestLog</c>; registers the store (the key store's kind), the writer, the OTLP export and the admin endpoints.</summary>
    public static IServiceCollection AddGatewayRequestLog(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<RequestLogOptions>().Bind(configuration.GetSection(RequestLogOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RequestLogOptions>, RequestLogOptionsValidator>());
        services.TryAddFeatureStore<IRequestLogStore, SqliteRequestLogStore, RedisRequestLogStore>();

        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RequestLogOptions>>().Value;
            return RequestLogExport.FromConfiguration(configuration, options.Enabled && options.Otlp);
        });
        services.TryAddSingleton<RequestLogWriter>();
        services.TryAddSingleton<RequestLogMiddleware>();
        services.AddHostedService(sp => sp.GetRequiredService<RequestLogWriter>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminApi, RequestLogEndpoints>());
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, RequestLogJsonContext.Default));
        return services;
    }

    /// <summary>The request log's stage; goes first in the proxy pipeline. Adds nothing when the log is off.</summary>
    public static IApplicationBuilder UseRequestLog(this IApplicationBuilder builder)
    {
        var writer = builder.ApplicationServices.GetRequiredService<RequestLogWriter>();
        if (!writer.IsEnabled)
        {
            return builder;
        }

        var middleware = builder.ApplicationServices.GetRequiredService<RequestLogMiddleware>();
        return builder.Use(next => context => middleware.InvokeAsync(context, next));
    }
}
