using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

internal static class AccessLogServiceCollectionExtensions
{
    /// <summary>Binds and validates <c>Gateway:AccessLog</c> and registers the background writer and the proxy's observer that feeds it.</summary>
    internal static IServiceCollection AddGatewayAccessLog(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGatewaySettings<AccessLogOptions>(configuration, AccessLogOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AccessLogOptions>, AccessLogOptionsValidator>());
        services.TryAddSingleton<AccessLogWriter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IProxyRequestObserver, AccessLogObserver>());
        services.AddHostedService(sp => sp.GetRequiredService<AccessLogWriter>());
        return services;
    }
}
