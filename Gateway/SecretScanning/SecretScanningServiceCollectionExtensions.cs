using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

internal static class SecretScanningServiceCollectionExtensions
{
    public static IServiceCollection AddGatewaySecretScanning(this IServiceCollection services)
    {
        // Bound here, not in Configuration, so Configuration knows no feature; validated at start, and a bad reload keeps the last good value.
        services.AddGatewaySettings<SecretScanningOptions>(SecretScanningOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SecretScanningOptions>, SecretScanningOptionsValidator>());
        services.TryAddSingleton<PublicKeyRing>();
        services.TryAddSingleton<ReportSlots>();
        services.TryAddSingleton<LeakedKeyReporter>();
        return services;
    }
}
