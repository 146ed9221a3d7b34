using System.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Observability;

/// <summary>
/// The gateway's trace spans and the sources and meters an OpenTelemetry pipeline should take.
/// Spans carry the organization and key id, never key material (no key, hash or prefix).
/// </summary>
public static class GatewayTelemetry
{
    /// <summary>The <see cref="ActivitySource"/> of the gateway's own spans.</summary>
    public const string ActivitySourceName = "Gateway";

    /// <summary>Tag names on the gateway's spans (and on the request span once the key is known).</summary>
    public const string OrgTag = "gateway.org_id";
    public const string KeyTag = "gateway.key_id";
    public const string RouteTag = "gateway.route";
    public const string RefusalTag = Http.GatewayProblem.RefusalTag;

    /// <summary>The environment variable (or setting) that turns on OTLP export of traces and metrics.</summary>
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    internal static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>
    /// Sources of the spans of a proxied request: ASP.NET Core's request span, the gateway's stages and
    /// store calls, and YARP's <c>proxy.forwarder</c> span for the call to the upstream; and a processor that takes
    /// keys and admin tokens a client put in the path out of every span's tags, for the exporters added after this call.
    /// </summary>
    public static TracerProviderBuilder AddGatewayInstrumentation(this TracerProviderBuilder builder) =>
        builder.AddSource(ActivitySourceName, "Microsoft.AspNetCore", "Yarp.ReverseProxy", "System.Net.Http")
            .AddProcessor(new SecretRedactingProcessor());

    /// <summary>The gateway's meter, ASP.NET Core's and Kestrel's HTTP meters, and the runtime's.</summary>
    public static MeterProviderBuilder AddGatewayInstrumentation(this MeterProviderBuilder builder) =>
        builder.AddMeter(GatewayMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", PrometheusMetrics.RuntimeMeterName);

    /// <summary>
    /// OTLP export of traces and metrics when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; the exporter reads the
    /// other standard <c>OTEL_*</c> variables (protocol, headers, service name) itself. Without it no
    /// tracer is registered, so spans cost nothing.
    /// </summary>
    internal static IServiceCollection AddGatewayOtlpExport(this IServiceCollection services, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(configuration[OtlpEndpointSetting]))
        {
            return services;
        }

        var serviceName = configuration["OTEL_SERVICE_NAME"];
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(string.IsNullOrWhiteSpace(serviceName) ? "gateway" : serviceName))
            .WithTracing(tracing => tracing.AddGatewayInstrumentation().AddOtlpExporter())
            .WithMetrics(metrics => metrics.AddGatewayInstrumentation().AddOtlpExporter());
        return services;
    }

    /// <summary>A span around one store call; null (free) when nobody traces.</summary>
    internal static Activity? StartStoreCall(string operation)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity("gateway.store " + operation, ActivityKind.Client);
        activity?.SetTag("db.operation.name", operation);
        return activity;
    }
}
