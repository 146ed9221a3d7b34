using System.Diagnostics;
using Gateway.Auth;
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
    public const string RefusalTag = "gateway.refusal_code";

    /// <summary>The environment variable (or setting) that turns on OTLP export of traces and metrics.</summary>
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    internal static readonly ActivitySource Source = new(ActivitySourceName);

    /// <summary>
    /// Sources of the spans of a proxied request: ASP.NET Core's request span, the gateway's stages and
    /// store calls, and YARP's <c>proxy.forwarder</c> span for the call to the upstream.
    /// </summary>
    public static TracerProviderBuilder AddGatewayInstrumentation(this TracerProviderBuilder builder) =>
        builder.AddSource(ActivitySourceName, "Microsoft.AspNetCore", "Yarp.ReverseProxy", "System.Net.Http");

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

    /// <summary>
    /// Wraps a pipeline stage in a span that ends when the stage hands the request on (or refuses it), so it
    /// measures the stage alone, not the stages after it. Costs one null check when nobody traces.
    /// </summary>
    internal static IApplicationBuilder UseSpan(this IApplicationBuilder builder, string name, Action<IApplicationBuilder> stage)
    {
        builder.Use(next => async context =>
        {
            using var activity = Source.StartActivity(name);
            if (activity is null)
            {
                await next(context);
                return;
            }

            await next(context);
            if (!activity.IsStopped)
            {
                Finish(activity, context);
            }
        });
        stage(builder);
        builder.Use(next => context =>
        {
            if (Activity.Current is { } activity && activity.Source == Source && activity.OperationName == name)
            {
                Finish(activity, context);

                // The stages after this one are siblings of this span, under the request span.
                Activity.Current = activity.Parent;
            }

            return next(context);
        });
        return builder;
    }

    private static void Finish(Activity activity, HttpContext context)
    {
        if (context.Features.Get<IApiKeyFeature>()?.Key is { } key)
        {
            // Also on the enclosing spans of this process (YARP's pipeline span, ASP.NET Core's request span),
            // so a trace can be found by org or key from its root.
            for (var span = activity; span is not null && span.GetTagItem(KeyTag) is null; span = span.Parent)
            {
                span.SetTag(OrgTag, key.OrgId);
                span.SetTag(KeyTag, key.Id);
            }
        }

        activity.Stop();
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

    /// <summary>Marks the current span with the problem code the gateway answered with.</summary>
    internal static void Refused(string code) => Activity.Current?.SetTag(RefusalTag, code);
}
