using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Signing;

/// <summary>
/// Adds the signing step as the last request transform of every route, so it sees the final path,
/// query and headers the upstream receives (after any route transforms). A client's own
/// <c>X-Gateway-Signature</c> never reaches an upstream, whether signing is on or not: the proxy guard strips
/// it from the incoming request, in every spelling, like the identity headers.
/// </summary>
internal sealed class SignatureTransformProvider(IdentitySigner signer) : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) => context.AddRequestTransform(SignAsync);

    private ValueTask SignAsync(RequestTransformContext context)
    {
        // Client copies of the header were removed from the upstream request with the identity headers
        // (IdentityHeaders.RemoveReserved); with signing off there is nothing left to do here.
        if (signer.Enabled)
        {
            // In a method of its own: its lambda's closure would otherwise be allocated on every request,
            // signing on or off.
            Sign(context.ProxyRequest, context);
        }

        return ValueTask.CompletedTask;
    }

    private void Sign(HttpRequestMessage request, RequestTransformContext context)
    {
        // A route transform could still have set one: only the gateway's own signature may go out.
        request.Headers.Remove(IdentitySigner.HeaderName);

        // Fixing the URI here (YARP keeps a URI a transform has set) makes what is signed exactly what is sent.
        var uri = request.RequestUri ??= RequestUtilities.MakeDestinationAddress(context.DestinationPrefix, context.Path, context.Query.QueryString);
        var signature = signer.Sign(request.Method.Method, uri.PathAndQuery, name =>
            request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null);
        if (signature is not null)
        {
            request.Headers.TryAddWithoutValidation(IdentitySigner.HeaderName, signature);
        }
    }
}
