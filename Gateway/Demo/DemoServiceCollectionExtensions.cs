namespace Gateway.Demo;

internal static class DemoServiceCollectionExtensions
{
    /// <summary>The built-in demo upstream and the first-run demo organization (both do nothing when <c>Demo:Enabled</c> is false).</summary>
    public static IServiceCollection AddGatewayDemo(this IServiceCollection services)
    {
        services.AddHostedService<DemoUpstream>();
        services.AddHostedService<DemoBootstrap>();
        return services;
    }
}
