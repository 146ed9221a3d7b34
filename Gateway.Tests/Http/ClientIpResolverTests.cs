using System.Net;
using Gateway.Configuration;
using Gateway.Http;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.Http;

/// <summary>Which address a limit is charged to, for trusted and untrusted peers and hostile X-Forwarded-For.</summary>
public sealed class ClientIpResolverTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        static TestCaseData Case(string name, string peer, string[] trusted, string[] forwardedFor, string client) =>
            new TestCaseData(peer, trusted, forwardedFor, client).SetArgDisplayNames(name);

        yield return Case("no trusted proxies: the peer, header ignored", "203.0.113.9", [], ["198.51.100.1"], "203.0.113.9");
        yield return Case("untrusted peer: header ignored", "203.0.113.9", ["10.0.0.0/8"], ["198.51.100.1"], "203.0.113.9");
        yield return Case("trusted peer: last hop", "10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1"], "198.51.100.1");
        yield return Case("trusted hops skipped right to left", "10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1, 10.0.0.7"], "198.51.100.1");
        yield return Case("client-chosen left part ignored", "10.0.0.2", ["10.0.0.0/8"], ["1.2.3.4, 198.51.100.1"], "198.51.100.1");
        yield return Case("several headers read last first", "10.0.0.2", ["10.0.0.0/8"], ["1.2.3.4", "198.51.100.1"], "198.51.100.1");
        yield return Case("garbage stops at the last trusted hop", "10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1, nonsense"], "10.0.0.2");
        yield return Case("all trusted: the leftmost", "10.0.0.2", ["10.0.0.0/8"], ["10.0.0.5"], "10.0.0.5");
        yield return Case("single trusted address", "192.0.2.1", ["192.0.2.1"], ["198.51.100.1"], "198.51.100.1");
        yield return Case("IPv4-mapped peer normalised", "::ffff:10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1"], "198.51.100.1");
        yield return Case("IPv6", "2001:db8::1", ["2001:db8::/32"], ["2001:db9::5"], "2001:db9::5");
        yield return Case("no header from a trusted peer", "10.0.0.2", ["10.0.0.0/8"], [], "10.0.0.2");
        yield return Case("IPv4 with the port a load balancer appends", "10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1:4444"], "198.51.100.1");
        yield return Case("bracketed IPv6 with a port", "10.0.0.2", ["10.0.0.0/8"], ["[2001:db9::5]:443"], "2001:db9::5");
        yield return Case("bracketed IPv6", "10.0.0.2", ["10.0.0.0/8"], ["[2001:db9::5]"], "2001:db9::5");
        yield return Case("trusted hop with a port skipped", "10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1, 10.0.0.7:80"], "198.51.100.1");
        yield return Case("octal-looking IPv4 is not an address", "10.0.0.2", ["10.0.0.0/8"], ["012.1.2.3"], "10.0.0.2");
        yield return Case("IPv4 as one number is not an address", "10.0.0.2", ["10.0.0.0/8"], ["167838211"], "10.0.0.2");
        yield return Case("hex IPv4 is not an address", "10.0.0.2", ["10.0.0.0/8"], ["0x0a.1.2.3"], "10.0.0.2");
        yield return Case("zone id is not an address", "10.0.0.2", ["10.0.0.0/8"], ["2001:db8::1%1"], "10.0.0.2");
        yield return Case("bad port is not an address", "10.0.0.2", ["10.0.0.0/8"], ["198.51.100.1:99999"], "10.0.0.2");
        yield return Case("IPv6 with a port but no brackets is not an address", "10.0.0.2", ["10.0.0.0/8"], ["2001:db9::5:443x"], "10.0.0.2");
    }

    [TestCaseSource(nameof(Cases))]
    public void Resolve_PeerAndForwardedFor_Client(string peer, string[] trusted, string[] forwardedFor, string client)
    {
        var options = new GatewayOptions { TrustedProxies = [.. trusted] };
        var resolver = new ClientIpResolver(() => options.TrustedProxies, () => options.RateLimits.Ipv6PrefixLength);
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        if (forwardedFor.Length > 0)
        {
            context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        }

        Assert.That(resolver.ResolveAddress(context), Is.EqualTo(IPAddress.Parse(client)));
    }
}
