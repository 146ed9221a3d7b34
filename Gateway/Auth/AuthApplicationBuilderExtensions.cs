using Gateway.Keys;

namespace Gateway.Auth;

public static class AuthApplicationBuilderExtensions
{
    /// <summary>Requires a valid API key on every non-anonymous route and stamps its identity for the upstream.</summary>
    public static IApplicationBuilder UseKeyAuthentication(this IApplicationBuilder builder)
    {
        // Checks the registration without building the service, so bad options surface at start-up proper.
        if (builder.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(KeyResolver)) != true)
        {
            throw new InvalidOperationException("UseKeyAuthentication requires AddGateway() to be called on the service collection.");
        }

        return builder.UseMiddleware<KeyAuthenticationMiddleware>();
    }
}
