using Gateway.Observability;
using Microsoft.Net.Http.Headers;

namespace Gateway.Admin;

/// <summary>
/// Refuses <c>/admin/*</c> requests a browser makes on behalf of another site: an <c>&lt;img&gt;</c>, form or
/// script on any web page can make an operator's browser call the admin listener on 127.0.0.1 or the
/// cluster network. Browsers say where a request comes from in <c>Sec-Fetch-Site</c> (every current one) and,
/// for most requests that are not GETs, <c>Origin</c>; only the admin console served by this listener
/// (<c>same-origin</c>) and requests a user typed (<c>none</c>) get through. Requests without either header
/// (the CLI, curl, scripts) are not from a browser and are unaffected.
/// </summary>
internal sealed partial class AdminCrossSiteFilter(ILogger<AdminCrossSiteFilter> logger) : IEndpointFilter
{
    private const string FetchSite = "Sec-Fetch-Site";

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (IsSameOrigin(request))
        {
            return next(context);
        }

        Log.Refused(logger, request.Method, AdminLoggedRoute.Of(context.HttpContext));
        return ValueTask.FromResult<object?>(AdminProblems.CrossSite());
    }

    internal static bool IsSameOrigin(HttpRequest request)
    {
        var site = request.Headers[FetchSite];
        if (site.Count > 0)
        {
            // Set by the browser and not settable by page scripts; "same-site" is refused too, since a page on
            // the proxy listener (another port, same host) is same-site with the admin listener.
            return site.Count == 1 && site[0] is "same-origin" or "none";
        }

        var origin = request.Headers[HeaderNames.Origin];
        if (origin.Count == 0)
        {
            return true;
        }

        // An older browser without Sec-Fetch-*: the origin's host and port must be the ones this request was sent to.
        return origin.Count == 1
            && Uri.TryCreate(origin[0], UriKind.Absolute, out var uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && request.Host.HasValue
            && string.Equals(uri.IsDefaultPort ? uri.IdnHost : $"{uri.IdnHost}:{uri.Port}", Authority(request), StringComparison.OrdinalIgnoreCase);
    }

    private static string Authority(HttpRequest request)
    {
        var host = request.Host;
        var defaultPort = request.IsHttps ? 443 : 80;
        return host.Port is { } port && port != defaultPort ? $"{host.Host}:{port}" : host.Host;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AdminCrossSiteRefused, Level = LogLevel.Warning, Message = "Refused a cross-site browser request to the admin API ({Method} {Route}).")]
        public static partial void Refused(ILogger logger, string method, string route);
    }
}
