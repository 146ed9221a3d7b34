using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

public static class AccessLogExtensions
{
    /// <summary>Binds and validates <c>Gateway:AccessLog</c> and registers the background writer.</summary>
    internal static IServiceCollection AddGatewayAccessLog(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AccessLogOptions>()
            .Bind(configuration.GetSection(AccessLogOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AccessLogOptions>, AccessLogOptionsValidator>());
        services.TryAddSingleton<AccessLogWriter>();
        services.TryAddSingleton<AccessLogMiddleware>();
        services.AddHostedService(sp => sp.GetRequiredService<AccessLogWriter>());
        return services;
    }

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
