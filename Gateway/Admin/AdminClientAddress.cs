using System.Net;
using Gateway.Configuration;
using Gateway.RateLimiting;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// Who is calling the admin listener: the TCP peer, unless the peer is listed in
/// <c>Gateway:Admin:TrustedProxies</c>; then <c>X-Forwarded-For</c> is read right to left, skipping those
/// hops, and the first address not listed is the caller. The proxy's <c>Gateway:TrustedProxies</c> is
/// deliberately not used: it names the ingress in front of client traffic, and trusting it here would let
/// anything behind that ingress (or any pod in its range) pick the address its failed admin attempts are
/// counted under and the address the audit log records. One place for both, so they cannot disagree.
/// </summary>
internal sealed class AdminClientAddress(IOptionsMonitor<GatewayOptions> options)
{
    private const string ForwardedFor = "X-Forwarded-For";

    private (List<string> Source, IPNetwork[] Networks) _trusted = ([], []);

    /// <summary>The caller's address, as written into audit entries and logs.</summary>
    public IPAddress Resolve(HttpContext context)
    {
        var peer = Normalize(context.Connection.RemoteIpAddress ?? IPAddress.None);
        var trusted = Trusted();
        if (trusted.Length == 0 || !IsTrusted(peer, trusted))
        {
            return peer;
        }

        var caller = peer;
        var values = context.Request.Headers[ForwardedFor];
        for (var v = values.Count - 1; v >= 0; v--)
        {
            var hops = (values[v] ?? "").Split(',');
            for (var h = hops.Length - 1; h >= 0; h--)
            {
                // Anything malformed ends the walk at the last trusted hop: a caller never picks its own address.
                if (!IPAddress.TryParse(hops[h].Trim(), out var hop))
                {
                    return caller;
                }

                caller = Normalize(hop);
                if (!IsTrusted(caller, trusted))
                {
                    return caller;
                }
            }
        }

        return caller;
    }

    /// <summary>
    /// The caller's address group, the unit admin limits are counted per: an IPv4 address, or an IPv6
    /// prefix of <c>Gateway:RateLimits:Ipv6PrefixLength</c> bits (one host usually holds a whole /64, so
    /// counting per address would hand it 2^64 fresh allowances).
    /// </summary>
    public UInt128 Group(IPAddress address) => IpGroups.Group(address, options.CurrentValue.RateLimits.Ipv6PrefixLength);

    public UInt128 Group(HttpContext context) => Group(Resolve(context));

    private IPNetwork[] Trusted()
    {
        var configured = options.CurrentValue.Admin.TrustedProxies;
        var cached = _trusted;
        if (ReferenceEquals(cached.Source, configured))
        {
            return cached.Networks;
        }

        // Parsed once per configuration (a reload brings a new list instance); the validator has checked every entry.
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
