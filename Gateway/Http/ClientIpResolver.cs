using System.Net;

namespace Gateway.Http;

/// <summary>
/// The client IP a request is charged to, logged under and checked against allowlists: the TCP peer, unless
/// the peer is a trusted proxy (<c>Gateway:TrustedProxies</c>); then <c>X-Forwarded-For</c> is read right to
/// left, skipping trusted hops, and the first untrusted address is the client. Anything malformed stops the
/// walk at the last trusted hop, so a client can never pick the address it is limited under. IPv6 clients are
/// grouped by <c>Gateway:RateLimits:Ipv6PrefixLength</c>: one host usually holds a whole /64, so a limit per
/// address would hand it 2^64 fresh allowances.
/// </summary>
/// <param name="trustedProxies">The configured list, read per request so a reload applies.</param>
/// <param name="ipv6PrefixLength">The IPv6 group size, read per request so a reload applies.</param>
internal sealed class ClientIpResolver(Func<List<string>> trustedProxies, Func<int> ipv6PrefixLength)
{
    private readonly ForwardedClient _forwarded = new(trustedProxies);

    /// <summary>The client's address group, the partition of its IP limit.</summary>
    public UInt128 Resolve(HttpContext context) => IpGroups.Group(ResolveAddress(context), ipv6PrefixLength());

    public IPAddress ResolveAddress(HttpContext context) => _forwarded.Resolve(context);

    /// <summary>Whether the request came through a trusted proxy, whose <c>X-Forwarded-For</c> an upstream may be given.</summary>
    public bool FromTrustedProxy(HttpContext context) => _forwarded.IsTrustedPeer(context);
}
