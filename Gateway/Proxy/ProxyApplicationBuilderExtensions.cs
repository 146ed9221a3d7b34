namespace Gateway.Proxy;

public static class ProxyApplicationBuilderExtensions
{
    /// <summary>Strips spoofable identity headers and maps upstream failures to problem+json. Must come first in the proxy pipeline.</summary>
    public static IApplicationBuilder UseProxyGuard(this IApplicationBuilder builder) =>
        builder.UseMiddleware<ProxyGuardMiddleware>();
}
