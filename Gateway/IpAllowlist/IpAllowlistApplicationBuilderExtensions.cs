using Gateway.Http;

namespace Gateway.IpAllowlist;

public static class IpAllowlistApplicationBuilderExtensions
{
    /// <summary>Enforces a key's <c>allowedCidrs</c>; goes after key authentication and before the workspace and key limits.</summary>
    public static IApplicationBuilder UseKeyIpAllowlist(this IApplicationBuilder builder)
    {
        if (builder.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(ClientIpResolver)) != true)
        {
            throw new InvalidOperationException("UseKeyIpAllowlist requires AddGateway() to be called on the service collection.");
        }

        return builder.UseMiddleware<KeyIpAllowlistMiddleware>();
    }
}
