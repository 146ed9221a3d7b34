using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

public static class AccessLogApplicationBuilderExtensions
{
    /// <summary>The access log's outer stage; goes first in the proxy pipeline. Adds nothing when the log is off.</summary>
    public static IApplicationBuilder UseAccessLog(this IApplicationBuilder builder)
    {
        var options = builder.ApplicationServices.GetRequiredService<IOptions<AccessLogOptions>>().Value;
        if (!options.Enabled)
        {
            return builder;
        }

        var middleware = builder.ApplicationServices.GetRequiredService<AccessLogMiddleware>();
        return builder.Use(next => context => middleware.InvokeAsync(context, next));
    }

    /// <summary>The access log's inner stage, timing the upstream call; goes last in the proxy pipeline.</summary>
    public static IApplicationBuilder UseAccessLogUpstreamTimer(this IApplicationBuilder builder) =>
        builder.ApplicationServices.GetRequiredService<IOptions<AccessLogOptions>>().Value.Enabled
            ? builder.Use(next => context => AccessLogMiddleware.UpstreamStageAsync(context, next))
            : builder;
}
