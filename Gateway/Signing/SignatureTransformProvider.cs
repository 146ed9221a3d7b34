using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Signing;

/// <summary>
/// Adds the signing step as the last request transform of every route, so it sees the final path,
/// query and headers the upstream receives (after any route transforms). A client's own
/// <c>X-Gateway-Signature</c> never reaches an upstream, whether signing is on or not.
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
        var request = context.ProxyRequest;
        RemoveClientCopies(request);

        // Fixing the URI here (YARP keeps a URI a transform has set) makes what is signed exactly what is sent.
        var uri = request.RequestUri ??= RequestUtilities.MakeDestinationAddress(context.DestinationPrefix, context.Path, context.Query.QueryString);
        var signature = signer.Sign(request.Method.Method, uri.PathAndQuery, name =>
            request.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null);
        if (signature is not null)
        {
            request.Headers.TryAddWithoutValidation(IdentitySigner.HeaderName, signature);
        }

        return ValueTask.CompletedTask;
    }

    private static void RemoveClientCopies(HttpRequestMessage request)
    {
        List<string>? doomed = null;
        foreach (var header in request.Headers)
        {
            // Also X_Gateway_Signature: some servers and CGI-style frameworks treat '_' as '-'.
            if (header.Key.Replace('_', '-').Equals(IdentitySigner.HeaderName, StringComparison.OrdinalIgnoreCase))
            {
                (doomed ??= []).Add(header.Key);
            }
        }

        if (doomed is not null)
        {
            foreach (var name in doomed)
            {
                request.Headers.Remove(name);
            }
        }
    }
}
