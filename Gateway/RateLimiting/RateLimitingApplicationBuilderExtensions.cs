namespace Gateway.RateLimiting;

public static class RateLimitingApplicationBuilderExtensions
{
    /// <summary>The IP limit; goes before key authentication in the proxy pipeline.</summary>
    public static IApplicationBuilder UseIpRateLimit(this IApplicationBuilder builder) =>
        Required(builder).UseMiddleware<IpRateLimitMiddleware>();

    /// <summary>The workspace (or route policy) and per-key limits, charged with the IP limit; goes after key authentication.</summary>
    public static IApplicationBuilder UseRateLimits(this IApplicationBuilder builder) =>
        Required(builder).UseMiddleware<RequestRateLimitMiddleware>();

    private static IApplicationBuilder Required(IApplicationBuilder builder) =>
        builder.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(RateLimitPolicyResolver)) == true
            ? builder
            : throw new InvalidOperationException("UseIpRateLimit/UseRateLimits require AddGatewayRateLimiting() on the service collection.");
}
