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

    /// <summary>
    /// Binds a feature's own section as the <c>Gateway</c> section is bound: its shapes checked, validated at start, and
    /// read through <see cref="LastGoodOptionsMonitor{TOptions}"/>. With the stock monitor, a reload that fails
    /// validation made every later <c>CurrentValue</c> read throw, and a background service reading it (the webhook
    /// dispatcher) died and stopped the gateway. Every section bound from configuration goes through here.
    /// </summary>
    public static OptionsBuilder<TOptions> AddGatewaySettings<TOptions>(this IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>>(new SectionShapeValidator<TOptions>(configuration, section)));
        services.TryAddSingleton<IOptionsMonitor<TOptions>, LastGoodOptionsMonitor<TOptions>>();
        return services.AddOptions<TOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
    }

    /// <summary>As above, bound from the container's configuration, for a feature whose registration is given none.</summary>
    public static OptionsBuilder<TOptions> AddGatewaySettings<TOptions>(this IServiceCollection services, string section)
        where TOptions : class
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, SectionShapeValidator<TOptions>>(
            sp => new SectionShapeValidator<TOptions>(sp.GetRequiredService<IConfiguration>(), section)));
        services.TryAddSingleton<IOptionsMonitor<TOptions>, LastGoodOptionsMonitor<TOptions>>();
        return services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
    }
}
