using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.AspNetCore;

public static class GatewayAuthenticationBuilderExtensions
{
    /// <summary>Bearer API keys verified through the gateway's verify API (<see cref="GatewayApiKeyHandler"/>).</summary>
    public static AuthenticationBuilder AddGatewayApiKey(this AuthenticationBuilder builder, Action<GatewayApiKeyOptions> configure) =>
        builder.AddGatewayApiKey(GatewayApiKeyDefaults.AuthenticationScheme, configure);

    public static AuthenticationBuilder AddGatewayApiKey(this AuthenticationBuilder builder, string scheme, Action<GatewayApiKeyOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<GatewayVerifyClients>();
        return builder.AddScheme<GatewayApiKeyOptions, GatewayApiKeyHandler>(scheme, configure);
    }

    /// <summary>The identity headers the gateway signs, for services behind its proxy (<see cref="GatewaySignedHeadersHandler"/>).</summary>
    public static AuthenticationBuilder AddGatewaySignedHeaders(this AuthenticationBuilder builder, Action<GatewaySignedHeadersOptions> configure) =>
        builder.AddGatewaySignedHeaders(GatewaySignedHeadersDefaults.AuthenticationScheme, configure);

    public static AuthenticationBuilder AddGatewaySignedHeaders(this AuthenticationBuilder builder, string scheme, Action<GatewaySignedHeadersOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(TimeProvider.System);
        return builder.AddScheme<GatewaySignedHeadersOptions, GatewaySignedHeadersHandler>(scheme, configure);
    }
}
