using Gateway.Auth;
using Gateway.Http;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Proxy;

/// <summary>
/// Sets the request id and the key's identity headers on the upstream request itself, after YARP has
/// copied the client's headers and after the route's own transforms, so neither a client nor a route
/// transform can change what the gateway says about the caller, or add an identity header the gateway
/// does not set (a customer id for a key without one, any of them on an anonymous route). The client's
/// copies are removed here too, from the upstream request's own header list, rather than from the
/// incoming request: enumerating Kestrel's headers a second time (YARP's copy is the first) allocates an
/// enumerator, and a client's headers are more than what reaches this list after YARP's copy.
/// Registered before the signing transform, which signs these headers as sent.
/// Client copies of the headers upstreams trust (<see cref="StrippedHeaders"/>) are removed by a transform
/// that runs first, before the route's own, which may still set those names. An upstream's trailers under the
/// gateway's names are dropped by <see cref="UpstreamTrailersTransform"/>, registered after the route's own.
/// </summary>
internal sealed class IdentityTransformProvider(StrippedHeaders stripped, ClientIpResolver ips) : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        context.RequestTransforms.Insert(0, new RequestFuncTransform(StripAsync));
        context.AddRequestTransform(StampAsync);
        context.AddResponseTransform(KeepGatewayHeadersAsync);
        context.ResponseTrailersTransforms.Add(UpstreamTrailersTransform.Instance);

        // YARP's default X-Forwarded-* transforms would be added after this provider's; added here instead, so the
        // chain below follows them. A route that configures its own forwarded transforms keeps them as they are.
        if (context.UseDefaultForwarders ?? true)
        {
            context.UseDefaultForwarders = false;
            context.AddXForwarded();
            context.AddRequestTransform(KeepTrustedChainAsync);
        }
    }

    /// <summary>
    /// YARP sets <c>X-Forwarded-For</c> to the TCP peer, replacing what the client sent. From a trusted proxy (a load
    /// balancer on <c>Gateway:TrustedProxies</c>) that loses the real client, so the upstream gets the chain the proxy
    /// sent with the proxy appended, as nginx's <c>$proxy_add_x_forwarded_for</c> gives; from any other peer the
    /// replacement stands, so a client never picks the address an upstream believes.
    /// </summary>
    private ValueTask KeepTrustedChainAsync(RequestTransformContext context)
    {
        var incoming = context.HttpContext.Request.Headers[ForwardedFor];
        if (incoming.Count == 0 || !ips.FromTrustedProxy(context.HttpContext))
        {
            return ValueTask.CompletedTask;
        }

        var headers = context.ProxyRequest.Headers;
        var chain = string.Join(", ", (IEnumerable<string?>)incoming);
        if (headers.TryGetValues(ForwardedFor, out var peer))
        {
            chain += ", " + string.Join(", ", peer);
        }

        headers.Remove(ForwardedFor);
        headers.TryAddWithoutValidation(ForwardedFor, chain);
        return ValueTask.CompletedTask;
    }

    private const string ForwardedFor = "X-Forwarded-For";

    /// <summary>
    /// YARP adds the upstream's response headers to those already set, so an upstream's own <c>X-Request-Id</c> would
    /// make two; the client gets the gateway's only, the id its logs hold. The quota and credits headers are the
    /// gateway's too: written when the response starts if a quota or credits apply, and an upstream's copy must not
    /// speak for them when none do. Headers the upstream named in its <c>Connection</c> header end at the gateway.
    /// </summary>
    private static ValueTask KeepGatewayHeadersAsync(ResponseTransformContext context)
    {
        var http = context.HttpContext;
        var headers = http.Response.Headers;
        if (headers[RequestIdMiddleware.HeaderName].Count != 1)
        {
            headers[RequestIdMiddleware.HeaderName] = http.TraceIdentifier;
        }

        foreach (var name in QuotaHeaders.All)
        {
            headers.Remove(name);
        }

        if (context.ProxyResponse is { } upstream)
        {
            ConnectionHeaders.RemoveNamed(upstream.Headers, headers);
        }

        return ValueTask.CompletedTask;
    }

    private ValueTask StripAsync(RequestTransformContext context)
    {
        stripped.RemoveFrom(context.ProxyRequest.Headers);
        StrippedHeaders.RemoveAdminSessionCookie(context.ProxyRequest.Headers);
        ConnectionHeaders.RemoveNamed(context.HttpContext.Request.Headers.Connection, context.ProxyRequest.Headers);
        return ValueTask.CompletedTask;
    }

    private static ValueTask StampAsync(RequestTransformContext context)
    {
        var http = context.HttpContext;
        var headers = context.ProxyRequest.Headers;

        // The client's copies (YARP copied them with its other headers) and any a route transform set.
        IdentityHeaders.RemoveReserved(headers);

        // The client's id when it was valid, else the generated one (RequestIdMiddleware), never a client's
        // invalid one: YARP copied the client's header with the others, so it is always replaced.
        IdentityHeaders.Set(headers, RequestIdMiddleware.HeaderName, http.TraceIdentifier);
        if (http.Feature<IApiKeyFeature>()?.Key is { } key)
        {
            IdentityHeaders.Stamp(headers, key);
        }

        return ValueTask.CompletedTask;
    }
}
