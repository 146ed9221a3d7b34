using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Signing;

public static class SigningReverseProxyBuilderExtensions
{
    /// <summary>Signs the identity headers of every proxied request when <c>Gateway:Signing:Secrets</c> is set.</summary>
    public static IReverseProxyBuilder AddGatewaySigning(this IReverseProxyBuilder builder)
    {
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, SigningOptionsValidator>());
        builder.Services.TryAddSingleton<IdentitySigner>();
        builder.AddTransforms<SignatureTransformProvider>();
        return builder;
    }
}
