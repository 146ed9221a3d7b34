using Gateway.Http;
using Gateway.Keys;

namespace Gateway.Auth;

/// <summary>
/// The last well-formed API key seen on an HTTP/1.x connection, with its digest. A client on a kept-alive
/// connection sends the same key with every request, and Kestrel hands over the same string instance for
/// a header value that did not change, so the format check and the SHA-256 (the largest single cost of
/// authenticating a cached key) run once per connection and key instead of once per request.
/// Only the digest is remembered: the key itself is still looked up, and checked for revocation,
/// expiry, environment and scopes, on every request. The string is the one Kestrel already keeps for the
/// connection's next request, and lives no longer than the connection.
/// </summary>
internal sealed class ConnectionKeyMemo
{
    private static readonly object ItemKey = new();

    private string? _header;
    private KeyDigest _digest;

    /// <summary>
    /// The memo of the request's connection, or null where there is none to use (see <see cref="SequentialConnection"/>).
    /// </summary>
    public static ConnectionKeyMemo? For(HttpContext context)
    {
        if (SequentialConnection.Items(context) is not { } items)
        {
            return null;
        }

        if (items.TryGetValue(ItemKey, out var existing))
        {
            return existing as ConnectionKeyMemo;
        }

        var memo = new ConnectionKeyMemo();
        items[ItemKey] = memo;
        return memo;
    }

    /// <summary>The digest of the key in <paramref name="header"/> when it is the header the previous request sent.</summary>
    public bool TryGet(string header, out KeyDigest digest)
    {
        digest = _digest;
        return _header is { } last && (ReferenceEquals(last, header) || string.Equals(last, header, StringComparison.Ordinal));
    }

    public void Remember(string header, KeyDigest digest)
    {
        _digest = digest;
        _header = header;
    }
}
