using System.Net;

namespace Gateway.Http;

/// <summary>
/// The client behind a list of trusted proxies: the TCP peer, unless the peer is trusted; then
/// <c>X-Forwarded-For</c> is read right to left, skipping trusted hops, and the first untrusted address
/// is the client. Anything malformed stops the walk at the last trusted hop, so a client can never pick
/// its own address. One walk for every list: the proxy's <c>Gateway:TrustedProxies</c> (client IP limits,
/// access log, allowlists) and the admin listener's <c>Gateway:Admin:TrustedProxies</c>.
/// </summary>
/// <param name="trustedProxies">The configured list; read per request, parsed again only when a reload brings a new list.</param>
internal sealed class ForwardedClient(Func<List<string>> trustedProxies)
{
    private (List<string> Source, IPNetwork[] Networks) _trusted = ([], []);

    /// <summary>Whether the TCP peer is on the list, so the <c>X-Forwarded-For</c> it sent is its own account of the client.</summary>
    public bool IsTrustedPeer(HttpContext context) => IsTrusted(Peer(context), Trusted());

    public IPAddress Resolve(HttpContext context)
    {
        var peer = Peer(context);
        var trusted = Trusted();
        if (!IsTrusted(peer, trusted))
        {
            return peer;
        }

        var client = peer;
        var values = context.Request.Headers["X-Forwarded-For"];
        for (var v = values.Count - 1; v >= 0; v--)
        {
            var hops = (values[v] ?? "").Split(',');
            for (var h = hops.Length - 1; h >= 0; h--)
            {
                if (!TryParseHop(hops[h].AsSpan().Trim(), out var hop))
                {
                    return client;
                }

                client = Normalize(hop);
                if (!IsTrusted(client, trusted))
                {
                    return client;
                }
            }
        }

        return client;
    }

    /// <summary>
    /// One hop, as strictly as an allowlist entry reads an address (never <c>012.1.2.3</c> as octal or <c>167838211</c> as
    /// one number, no zone id), with the port some load balancers append (Azure Application Gateway):
    /// <c>203.0.113.5:4444</c>, <c>[2001:db8::1]:443</c>.
    /// </summary>
    private static bool TryParseHop(ReadOnlySpan<char> text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0 || !IsPortOrNothing(text[(close + 1)..]))
            {
                return false;
            }

            text = text[1..close];
            if (!text.Contains(':'))
            {
                return false;
            }
        }
        else if (text.IndexOf(':') is var colon and >= 0 && text.LastIndexOf(':') == colon)
        {
            // One colon: an IPv4 address and its port (an IPv6 address has at least two).
            if (!IsPortOrNothing(text[colon..]))
            {
                return false;
            }

            text = text[..colon];
        }

        return Domain.AllowedCidrs.TryParseAddress(text.ToString(), out address);
    }

    private static bool IsPortOrNothing(ReadOnlySpan<char> text) =>
        text.IsEmpty || (text[0] == ':' && ushort.TryParse(text[1..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _));

    private IPNetwork[] Trusted()
    {
        var configured = trustedProxies();
        var cached = _trusted;
        if (ReferenceEquals(cached.Source, configured))
        {
            return cached.Networks;
        }

        var networks = configured.Select(Parse).OfType<IPNetwork>().ToArray();
        _trusted = (configured, networks);
        return networks;
    }

    private static IPNetwork? Parse(string value)
    {
        if (IPNetwork.TryParse(value, out var network))
        {
            return network;
        }

        return IPAddress.TryParse(value, out var address)
            ? new IPNetwork(Normalize(address), Normalize(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            : null;
    }

    private static bool IsTrusted(IPAddress address, IPNetwork[] trusted)
    {
        foreach (var network in trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress Peer(HttpContext context) => Normalize(context.Connection.RemoteIpAddress ?? IPAddress.None);

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
