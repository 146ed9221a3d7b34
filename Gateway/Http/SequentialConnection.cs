using Microsoft.AspNetCore.Connections.Features;

namespace Gateway.Http;

/// <summary>
/// State kept per HTTP/1.x connection. Such a connection runs its requests one after another: the next
/// one is not read before the previous one's pipeline has finished, so an object kept here is used by
/// one request at a time. HTTP/2 and HTTP/3 run a connection's requests concurrently and share its
/// items, so they get none.
/// </summary>
internal static class SequentialConnection
{
    /// <summary>The connection's items, or null for HTTP/2 and HTTP/3 and for a host without connection items.</summary>
    public static IDictionary<object, object?>? Items(HttpContext context) =>
        HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol)
            ? context.Feature<IConnectionItemsFeature>()?.Items
            : null;
}
