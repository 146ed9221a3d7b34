using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

public static class AccessLogApplicationBuilderExtensions
{
    /// <summary>The access log's inner stage, timing the upstream call; goes last in the proxy pipeline.</summary>
    public static IApplicationBuilder UseAccessLogUpstreamTimer(this IApplicationBuilder builder) =>
        builder.ApplicationServices.GetRequiredService<IOptions<AccessLogOptions>>().Value.Enabled
            ? builder.Use(next => context => AccessLogObserver.UpstreamStageAsync(context, next))
            : builder;
}
