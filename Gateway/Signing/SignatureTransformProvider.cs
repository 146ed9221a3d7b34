using System.Net.Http.Headers;
using Gateway.Verification;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Gateway.Signing;

/// <summary>
/// Adds the signing step as the last request transform of every route, so it sees the final path,
/// query and headers the upstream receives (after any route transforms). A client's own
/// <c>X-Gateway-Signature</c> never reaches an upstream, whether signing is on or not: the identity transform
/// removes it from the upstream request in every spelling, with the identity headers
/// (<c>IdentityHeaders.RemoveReserved</c>), and this step removes one a route transform set.
/// </summary>
internal sealed class SignatureTransformProvider(IdentitySigner signer) : ITransformProvider
{
    /// <summary>The names a version 1 verifier refuses twice (the signature and its headers), normalized.</summary>
    private static readonly HashSet<string> V1Headers =
        [.. GatewaySignature.SingleHeaders.Take(1 + GatewaySignature.SignedHeaders.Count).Select(GatewaySignature.NormalizeName)];

    /// <summary>Those of version 2, which adds <c>Host</c> and <c>Content-Digest</c>.</summary>
    private static readonly HashSet<string> V2Headers = [.. GatewaySignature.SingleHeaders.Select(GatewaySignature.NormalizeName)];

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        // YARP adds the transform that decides the Host header (the original one, the destination's configured
        // one, or none so HttpClient sends the destination's authority) after every provider's, unless the route
        // has one; version 2 signs the Host, so it must be decided before the signature. This is the one YARP
        // would add.
        if (!context.RequestTransforms.Any(t => t is RequestHeaderOriginalHostTransform))
        {
            context.AddOriginalHost(useOriginal: false);
        }

        context.AddRequestTransform(SignAsync);
    }

    private ValueTask SignAsync(RequestTransformContext context)
    {
        // Client copies of the header were removed from the upstream request with the identity headers
        // (IdentityHeaders.RemoveReserved); with signing off there is nothing left to do here.
        if (signer.Current() is not { } state)
        {
            return ValueTask.CompletedTask;
        }

        var request = context.ProxyRequest;

        // A route transform could still have set one: only the gateway's own signature may go out.
        request.Headers.Remove(IdentitySigner.HeaderName);
        RemoveOtherSpellings(request, state.V2);

        // Fixing the URI here (YARP keeps a URI a transform has set) makes what is signed exactly what is sent.
        var uri = request.RequestUri ??= RequestUtilities.MakeDestinationAddress(context.DestinationPrefix, context.Path, context.Query.QueryString);
        if (!state.V2)
        {
            Sign(state, request, uri, v2: null);
            return ValueTask.CompletedTask;
        }

        // Set explicitly so the Host sent is the one signed, whichever way HttpClient would have spelled it.
        var host = request.Headers.Host ??= Authority(uri);
        var cluster = context.HttpContext.GetReverseProxyFeature().Cluster.Config.ClusterId;
        var http = context.HttpContext.Request;
        if (request.Content is not null && state.MaxDigestBytes > 0 && http.ContentLength is { } length
            && length <= state.MaxDigestBytes
            && length <= (context.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize ?? long.MaxValue))
        {
            return SignWithDigestAsync(context, state, uri, host, cluster, (int)length);
        }

        var content = request.Content is null ? GatewaySignature.NoBody : GatewaySignature.UnsignedBody;
        Sign(state, request, uri, new V2Request(IdentitySigner.NewNonce(), host, cluster, content));
        return ValueTask.CompletedTask;
    }

    private async ValueTask SignWithDigestAsync(RequestTransformContext context, SigningState state, Uri uri, string host, string cluster, int length)
    {
        // YARP reads HttpContext.Request.Body only when it sends the request, so the buffered copy is what goes upstream.
        var http = context.HttpContext.Request;
        var body = new byte[length];
        await http.Body.ReadExactlyAsync(body, context.CancellationToken);
        http.Body = new MemoryStream(body, writable: false);

        var digest = GatewaySignature.ContentDigest(body);
        context.ProxyRequest.Headers.TryAddWithoutValidation(GatewaySignature.ContentDigestHeaderName, digest);
        Sign(state, context.ProxyRequest, uri, new V2Request(IdentitySigner.NewNonce(), host, cluster, digest));
    }

    private void Sign(SigningState state, HttpRequestMessage request, Uri uri, V2Request? v2)
    {
        // NonValidated: the values as they were set, without HttpHeaders parsing each into a new store on the way.
        var signature = signer.Sign(state, request.Method.Method, uri.PathAndQuery, name =>
            request.Headers.NonValidated.TryGetValues(name, out var values) ? Join(values) : null, v2);
        request.Headers.TryAddWithoutValidation(IdentitySigner.HeaderName, signature);
    }

    private static string Join(HeaderStringValues values)
    {
        if (values.Count == 1)
        {
            foreach (var value in values)
            {
                return value;
            }
        }

        return string.Join(",", values);
    }

    /// <summary>
    /// Removes copies of covered headers that a verifier would count twice: names spelled with '_' for '-'
    /// (<c>X_Request_Id</c>; the proxy already removes those of the identity headers) and, with version 2, every
    /// client <c>Content-Digest</c>, which only the gateway sets.
    /// </summary>
    private static void RemoveOtherSpellings(HttpRequestMessage request, bool v2)
    {
        var covered = v2 ? V2Headers : V1Headers;
        Remove(request.Headers, covered, v2);
        if (request.Content is { } content)
        {
            Remove(content.Headers, covered, v2);
        }
    }

    private static void Remove(System.Net.Http.Headers.HttpHeaders headers, HashSet<string> covered, bool v2)
    {
        List<string>? doomed = null;
        foreach (var header in headers.NonValidated)
        {
            var name = header.Key;
            if ((name.Contains('_') && covered.Contains(GatewaySignature.NormalizeName(name)))
                || (v2 && string.Equals(name, GatewaySignature.ContentDigestHeaderName, StringComparison.OrdinalIgnoreCase)))
            {
                (doomed ??= []).Add(name);
            }
        }

        if (doomed is not null)
        {
            foreach (var name in doomed)
            {
                headers.Remove(name);
            }
        }
    }

    /// <summary>The Host HttpClient sends: the IDNA host, brackets around IPv6, the port unless the scheme's default.</summary>
    private static string Authority(Uri uri)
    {
        var host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host : uri.IdnHost;
        return uri.IsDefaultPort ? host : host + ":" + uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
