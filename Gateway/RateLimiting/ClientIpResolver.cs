using System.Net;
using Gateway.Configuration;
using Gateway.Http;
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
    private readonly ForwardedClient _forwarded = new(() => options.CurrentValue.TrustedProxies);

    /// <summary>The client's address group, the partition of its IP limit.</summary>
    public UInt128 Resolve(HttpContext context) => IpGroups.Group(ResolveAddress(context), options.CurrentValue.RateLimits.Ipv6PrefixLength);

    public IPAddress ResolveAddress(HttpContext context) => _forwarded.Resolve(context);
}
