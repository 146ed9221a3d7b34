using System.Net;
using Gateway.Configuration;
using Gateway.Http;
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
    private readonly ForwardedClient _forwarded = new(() => options.CurrentValue.Admin.TrustedProxies);

    /// <summary>The caller's address, as written into audit entries and logs.</summary>
    public IPAddress Resolve(HttpContext context) => _forwarded.Resolve(context);

    /// <summary>
    /// The caller's address group, the unit admin limits are counted per: an IPv4 address, or an IPv6
    /// prefix of <c>Gateway:RateLimits:Ipv6PrefixLength</c> bits (one host usually holds a whole /64, so
    /// counting per address would hand it 2^64 fresh allowances).
    /// </summary>
    public UInt128 Group(IPAddress address) => IpGroups.Group(address, options.CurrentValue.RateLimits.Ipv6PrefixLength);

    public UInt128 Group(HttpContext context) => Group(Resolve(context));
}
