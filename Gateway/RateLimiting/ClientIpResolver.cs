using System.Net;
using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.RateLimiting;

/// <summary>
/// The client IP a limit is charged to: the TCP peer, unless the peer is a trusted proxy
/// (<c>Gateway:TrustedProxies</c>); then <c>X-Forwarded-For</c> is read right to left, skipping trusted
/// hops, and the first untrusted address is the client. Anything malformed stops the walk at the last
/// trusted hop, so a client can never pick the address it is limited under. IPv6 clients are grouped
/// by <c>Gateway:RateLimits:Ipv6PrefixLength</c>: one host usually holds a whole /64, so a limit per
/// address would hand it 2^64 fresh allowances.
/// </summary>
internal sealed class ClientIpResolver(IOptionsMonitor<GatewayOptions> options)
{
    private (List<string> Source, IPNetwork[] Networks) _trusted = ([], []);

    /// <summary>The client's address group, the partition of its IP limit.</summary>
    public UInt128 Resolve(HttpContext context) => IpGroups.Group(ResolveAddress(context), options.CurrentValue.RateLimits.Ipv6PrefixLength);

    public IPAddress ResolveAddress(HttpContext context)
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
        var configured = options.CurrentValue.TrustedProxies;
        var cached = _trusted;
        if (ReferenceEquals(cached.Source, configured))
        {
            return cached.Networks;
        }

        // Parsed once per configuration (a reload brings a new list instance).
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
            ? new IPNetwork(Normalize(address), address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork || address.IsIPv4MappedToIPv6 ? 32 : 128)
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
