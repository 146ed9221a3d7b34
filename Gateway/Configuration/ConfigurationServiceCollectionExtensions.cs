using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

internal static class ConfigurationServiceCollectionExtensions
{
    /// <summary>
    /// Binds the <c>Gateway</c> section, validates it at start (naming every bad setting) and keeps the last
    /// good value when a reload brings a bad one.
    /// </summary>
    public static IServiceCollection AddGatewayOptions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>()
            .Bind(configuration.GetSection(GatewayOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>());
        // The configuration the options are bound from, not the container's: hosts that build options alone register none.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>>(new SettingsShapeValidator(configuration)));
        services.AddSingleton<IOptionsMonitor<GatewayOptions>, LastGoodOptionsMonitor<GatewayOptions>>();
        return services;
    }
}
