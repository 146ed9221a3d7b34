using System.Net.Http.Headers;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Gateway.Proxy;

/// <summary>
/// The headers a sender names in its <c>Connection</c> header are hop-by-hop (RFC 9110, section 7.6.1): a proxy removes
/// them before forwarding, in both directions. YARP drops the fixed hop-by-hop names but forwards the ones a message
/// names, so a client could send an upstream a header the client's own proxy meant for the gateway only, and an
/// upstream could send a client one its proxy should have kept. Framing and routing headers are never removed this way,
/// and the gateway's own stamped headers are set after the request's removal, so naming them removes nothing the
/// gateway sets.
/// </summary>
internal static class ConnectionHeaders
{
    /// <summary>Removes from the upstream request the headers the client's <c>Connection</c> header names.</summary>
    public static void RemoveNamed(StringValues connection, HttpRequestHeaders upstream)
    {
        foreach (var value in connection)
        {
            ForEachNamed(value, upstream, static (headers, name) =>
            {
                if (headers.NonValidated.Contains(name))
                {
                    headers.Remove(name);
                }
            });
        }
    }

    /// <summary>
    /// Removes from the client's response headers or trailers those that the upstream's <c>Connection</c> field, in
    /// <paramref name="upstream"/> (its headers or its trailers), names.
    /// </summary>
    public static void RemoveNamed(HttpHeaders upstream, IHeaderDictionary response)
    {
        if (!upstream.NonValidated.TryGetValues(HeaderNames.Connection, out var connection))
        {
            return;
        }

        foreach (var value in connection)
        {
            ForEachNamed(value, response, static (headers, name) => headers.Remove(name));
        }
    }

    private static void ForEachNamed<TState>(string? value, TState state, Action<TState, string> remove)
    {
        // Browsers send "keep-alive" on every HTTP/1.1 request: decided without splitting.
        if (string.IsNullOrEmpty(value) || (!value.Contains(',') && IsKept(value.Trim())))
        {
            return;
        }

        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!IsKept(part))
            {
                remove(state, part);
            }
        }
    }

    // The connection options themselves, and headers that frame or route the message: removing those would change what
    // the message is, not just what it says.
    private static bool IsKept(string name) =>
        name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
        || name.Equals("close", StringComparison.OrdinalIgnoreCase)
        || name.Equals("upgrade", StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase);
}
