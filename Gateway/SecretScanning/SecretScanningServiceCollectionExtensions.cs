using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

internal static class SecretScanningServiceCollectionExtensions
{
    public static IServiceCollection AddGatewaySecretScanning(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, SecretScanningOptionsValidator>());
        services.TryAddSingleton<PublicKeyRing>();
        services.TryAddSingleton<ReportSlots>();
        services.TryAddSingleton<LeakedKeyReporter>();
        return services;
    }
}
