using Gateway.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;

namespace Gateway.Proxy;

/// <summary>
/// YARP copies an upstream's trailers to a client that takes them (HTTP/2 and HTTP/3; Kestrel sends none on HTTP/1.1)
/// once the body has been copied, long after the response transform that keeps the gateway's headers has run. So an
/// upstream's <c>X-RateLimit-Remaining: 999999</c> trailer would reach the client beside the gateway's header and
/// speak for a limit the gateway never granted. The names the gateway owns on a response never come from the upstream
/// as trailers, nor do the connection-specific ones (RFC 9113, 8.2.2; YARP drops the fixed list in its copy, this does
/// not depend on it) or those the upstream named in its <c>Connection</c> header. Registered after the route's own
/// trailer transforms, so they cannot add one back.
/// </summary>
internal sealed class UpstreamTrailersTransform : ResponseTrailersTransform
{
    public static readonly UpstreamTrailersTransform Instance = new();

    // Retry-After is here though an upstream's header passes: as a trailer it is response control data a client may
    // not act on (RFC 9110, 6.5.1), and beside the limit headers it could only mislead about the gateway's limits.
    private static readonly string[] Dropped =
    [
        RateLimitHeaderNames.Limit, RateLimitHeaderNames.Remaining, RateLimitHeaderNames.Reset,
        .. QuotaHeaders.All,
        RequestIdMiddleware.HeaderName, HeaderNames.RetryAfter,
        HeaderNames.Connection, HeaderNames.KeepAlive, HeaderNames.ProxyConnection, HeaderNames.TE,
        HeaderNames.TransferEncoding, HeaderNames.Upgrade,
    ];

    private UpstreamTrailersTransform()
    {
    }

    public override ValueTask ApplyAsync(ResponseTrailersTransformContext context)
    {
        // YARP calls this only for a client that takes trailers (HTTP/2, HTTP/3; it allocates its context for each such
        // response), never on HTTP/1.1. Most responses have no trailers: then this is a lookup and a count, no allocation.
        if (context.HttpContext.Features.Get<IHttpResponseTrailersFeature>()?.Trailers is not { Count: > 0 } trailers)
        {
            return ValueTask.CompletedTask;
        }

        foreach (var name in Dropped)
        {
            trailers.Remove(name);
        }

        var upstream = context.ProxyResponse;
        ConnectionHeaders.RemoveNamed(upstream.Headers, trailers);
        ConnectionHeaders.RemoveNamed(upstream.TrailingHeaders, trailers);
        return ValueTask.CompletedTask;
    }
}
