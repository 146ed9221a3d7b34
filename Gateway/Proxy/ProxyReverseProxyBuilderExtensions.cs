using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

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

    /// <summary>
    /// Refuses route metadata the gateway would misread when the routes load, and a reload of the <c>Gateway</c>
    /// settings that takes away a rate-limit policy a route in force names or a scope one requires.
    /// </summary>
    /// <param name="proxy">The <c>ReverseProxy</c> section the routes are loaded from.</param>
    internal static IReverseProxyBuilder AddGatewayRouteValidation(this IReverseProxyBuilder builder, IConfiguration proxy)
    {
        var inForce = new RoutesInForce(proxy);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigChangeListener>(inForce));
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>>(new RouteCoverageValidator(inForce, proxy)));
        return builder.AddConfigFilter<RouteMetadataValidator>();
    }
}
