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

    public IPAddress Resolve(HttpContext context)
    {
        var peer = Normalize(context.Connection.RemoteIpAddress ?? IPAddress.None);
        var trusted = Trusted();
        if (trusted.Length == 0 || !IsTrusted(peer, trusted))
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
                if (!IPAddress.TryParse(hops[h].Trim(), out var hop))
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

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
