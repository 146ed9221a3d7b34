using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Proxy;

public static class ProxyReverseProxyBuilderExtensions
{
    /// <summary>
    /// Sets the request id and the caller's identity headers on every upstream request. Call before
    /// <c>AddGatewaySigning</c>: transforms run in the order they are added, and the signature covers these headers.
    /// </summary>
    public static IReverseProxyBuilder AddGatewayIdentityHeaders(this IReverseProxyBuilder builder)
    {
        builder.Services.TryAddSingleton<StrippedHeaders>();
        return builder.AddTransforms<IdentityTransformProvider>();
    }
}
