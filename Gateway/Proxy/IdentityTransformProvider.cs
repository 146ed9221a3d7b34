using Gateway.Auth;
using Gateway.Http;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Proxy;

/// <summary>
/// Sets the request id and the key's identity headers on the upstream request itself, after YARP has
/// copied the client's headers and after the route's own transforms, so neither a client nor a route
/// transform can change what the gateway says about the caller, or add an identity header the gateway
/// does not set (a customer id for a key without one, any of them on an anonymous route). Writing them here rather than onto the
/// incoming request also spares Kestrel's per-request dictionary of custom headers and YARP's copy of
/// them: the dictionary is only created when a client sends a custom header.
/// Registered before the signing transform, which signs these headers as sent.
/// </summary>
internal sealed class IdentityTransformProvider : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) =>
        // The route's own transforms (and those of providers registered before this one) are already in the
        // list. When there are none, nothing but the client's copies, which the proxy guard removed, can have
        // put an identity header on the upstream request, so the headers are added without looking for
        // an earlier value first: on a route without transforms, that look-up was most of this transform's cost.
        context.AddRequestTransform(context.RequestTransforms.Count == 0 ? static c => Stamp(c, fresh: true) : static c => Stamp(c, fresh: false));

    private static ValueTask Stamp(RequestTransformContext context, bool fresh)
    {
        var http = context.HttpContext;
        var headers = context.ProxyRequest.Headers;

        // The client's id when it was valid, else the generated one (RequestIdMiddleware), never a client's
        // invalid one: YARP copied the client's header with the others, so it is always replaced.
        IdentityHeaders.Set(headers, RequestIdMiddleware.HeaderName, http.TraceIdentifier);
        if (http.Feature<IApiKeyFeature>()?.Key is { } key)
        {
            IdentityHeaders.Stamp(headers, key, replace: !fresh);
        }
        else if (!fresh)
        {
            IdentityHeaders.Clear(headers);
        }

        return ValueTask.CompletedTask;
    }
}
