using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

internal static class SecretScanningServiceCollectionExtensions
{
    public static IServiceCollection AddGatewaySecretScanning(this IServiceCollection services)
    {
        // Bound here, not in Configuration, so Configuration knows no feature; validated at start, and a bad reload keeps the last good value.
        services.AddOptions<SecretScanningOptions>().BindConfiguration(SecretScanningOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SecretScanningOptions>, SecretScanningOptionsValidator>());
        services.TryAddSingleton<IOptionsMonitor<SecretScanningOptions>, LastGoodOptionsMonitor<SecretScanningOptions>>();
        services.TryAddSingleton<PublicKeyRing>();
        services.TryAddSingleton<ReportSlots>();
        services.TryAddSingleton<LeakedKeyReporter>();
        return services;
    }
}
