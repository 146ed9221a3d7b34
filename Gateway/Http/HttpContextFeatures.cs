using Yarp.ReverseProxy.Model;

namespace Gateway.Http;

/// <summary>
/// Request features read and written through the collection's indexer. <c>IFeatureCollection.Get&lt;T&gt;</c>
/// and <c>Set&lt;T&gt;</c> are generic virtual methods, which the runtime resolves through a lookup on every
/// call; a proxied request makes about a dozen of them, and a profile under load showed that lookup
/// among the largest differences from plain YARP. The indexer is an ordinary interface call with the same
/// result.
/// </summary>
internal static class HttpContextFeatures
{
    public static T? Feature<T>(this HttpContext context)
        where T : class => (T?)context.Features[typeof(T)];

    public static void SetFeature<T>(this HttpContext context, T? feature)
        where T : class => context.Features[typeof(T)] = feature;

    /// <summary>YARP's per-request route and destination state, as <c>GetReverseProxyFeature()</c> returns it.</summary>
    public static IReverseProxyFeature ProxyFeature(this HttpContext context) =>
        context.Feature<IReverseProxyFeature>() ?? throw new InvalidOperationException("The request is not on a YARP route.");
}
