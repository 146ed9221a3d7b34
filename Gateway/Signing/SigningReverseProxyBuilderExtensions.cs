using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Signing;

public static class SigningReverseProxyBuilderExtensions
{
    /// <summary>Signs the identity headers of every proxied request when <c>Gateway:Signing:Secrets</c> is set.</summary>
    public static IReverseProxyBuilder AddGatewaySigning(this IReverseProxyBuilder builder)
    {
        // Bound here, not in Configuration, so Configuration knows no feature; validated at start, and a bad reload keeps the last good value.
        builder.Services.AddGatewaySettings<SigningOptions>(SigningOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SigningOptions>, SigningOptionsValidator>());
        builder.Services.TryAddSingleton<IdentitySigner>();
        builder.AddTransforms<SignatureTransformProvider>();
        return builder;
    }
}
