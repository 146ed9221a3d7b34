using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Observability;

internal static class ObservabilityServiceCollectionExtensions
{
    /// <summary>Metrics (per host, served as Prometheus text), and OTLP export when configured.</summary>
    public static IServiceCollection AddGatewayObservability(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddMetrics();
        services.TryAddSingleton<GatewayMetrics>();
        services.TryAddSingleton<PrometheusMetrics>();
        services.AddGatewayOtlpExport(configuration);
        return services;
    }
}
