using Gateway.Auth;

namespace Gateway.Proxy;

public static class ProxyApplicationBuilderExtensions
{
    /// <summary>Strips spoofable identity headers and maps upstream failures to problem+json. Must come first in the proxy pipeline.</summary>
    public static IApplicationBuilder UseProxyGuard(this IApplicationBuilder builder) =>
        builder.UseMiddleware<ProxyGuardMiddleware>();

    /// <summary>Requires a valid API key on every non-anonymous route and stamps its identity for the upstream.</summary>
    public static IApplicationBuilder UseKeyAuthentication(this IApplicationBuilder builder)
    {
        // Checks the registration without building the service, so bad options surface at start-up proper.
        if (builder.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(Keys.KeyResolver)) != true)
        {
            throw new InvalidOperationException("UseKeyAuthentication requires AddGateway() to be called on the service collection.");
        }

        return builder.UseMiddleware<KeyAuthenticationMiddleware>();
    }
}
