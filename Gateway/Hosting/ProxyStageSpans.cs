using System.Diagnostics;
using Gateway.Auth;
using Gateway.Http;
using Gateway.Observability;

namespace Gateway.Hosting;

internal static class ProxyStageSpans
{
    /// <summary>
    /// Wraps a pipeline stage in a span that ends when the stage hands the request on (or refuses it), so it
    /// measures the stage alone, not the stages after it. Costs one listener check (and no async frame) when nobody traces.
    /// </summary>
    public static IApplicationBuilder UseSpan(this IApplicationBuilder builder, string name, Action<IApplicationBuilder> stage)
    {
        builder.Use(next => context =>
        {
            // No listener, no span: hand on without an async frame of our own.
            var activity = GatewayTelemetry.Source.StartActivity(name);
            return activity is null ? next(context) : TracedAsync(activity, next, context);
        });
        stage(builder);
        builder.Use(next => context =>
        {
            // The listener check first: it is a field read, where Activity.Current is an async-local lookup.
            if (GatewayTelemetry.Source.HasListeners() && Activity.Current is { } activity && activity.Source == GatewayTelemetry.Source && activity.OperationName == name)
            {
                Finish(activity, context);

                // The stages after this one are siblings of this span, not its children.
                Activity.Current = activity.Parent;
            }

            return next(context);
        });
        return builder;
    }

    private static async Task TracedAsync(Activity activity, RequestDelegate next, HttpContext context)
    {
        using (activity)
        {
            await next(context);
            if (!activity.IsStopped)
            {
                Finish(activity, context);
            }
        }
    }

    private static void Finish(Activity activity, HttpContext context)
    {
        if (context.Feature<IApiKeyFeature>()?.Key is { } key)
        {
            // Also on the enclosing spans of this process (YARP's pipeline span, ASP.NET Core's request span),
            // so a trace can be found by org or key from its root.
            for (var span = activity; span is not null && span.GetTagItem(GatewayTelemetry.KeyTag) is null; span = span.Parent)
            {
                span.SetTag(GatewayTelemetry.OrgTag, key.OrgId);
                span.SetTag(GatewayTelemetry.KeyTag, key.Id);
            }
        }

        activity.Stop();
    }
}
