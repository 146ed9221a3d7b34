using System.Diagnostics.CodeAnalysis;
using System.Net;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Microsoft.Extensions.Options;

namespace Gateway.RateLimiting;

/// <summary>
/// The client IP limit (<c>Gateway:RateLimits:Ip</c>) for requests that never enter the YARP pipeline:
/// unmatched paths, leaked-key reports and the admin API. Takes one permit per request and answers a
/// refusal with the proxy's 429 <c>rate_limited</c> (Retry-After, X-RateLimit-*); an admitted response
/// carries X-RateLimit-* too. Nothing follows the permit (no key, no other limit), so a permit the Redis
/// counter deferred is settled at once.
/// </summary>
/// <remarks>
/// Two instances: the proxy listener's shares the proxy's counter, so a client that scans unmatched paths
/// or posts reports spends the same allowance as its proxied requests; the admin listener's
/// (<see cref="Admin"/>) has a per-instance counter of its own, so proxy traffic from an address never
/// locks its operator out of the admin API, nor the reverse.
/// </remarks>
internal sealed class IpLimitGate(
    IRateLimitCounter counter,
    RateLimitPolicyResolver policies,
    ClientIpResolver ips,
    IOptionsMonitor<GatewayOptions> options,
    GatewayMetrics metrics)
{
    /// <summary>Service key of the admin listener's gate.</summary>
    public const string Admin = "admin";

    /// <summary>Takes a permit for the proxy client (the TCP peer, or <c>X-Forwarded-For</c> through <c>Gateway:TrustedProxies</c>).</summary>
    /// <param name="refusal">When false: the task writing the 429.</param>
    public bool TryEnter(HttpContext context, [NotNullWhen(false)] out Task? refusal) =>
        TryEnter(context, ips.Resolve(context), out refusal);

    /// <summary>Takes a permit for <paramref name="client"/> (IPv6 grouped by <c>RateLimits:Ipv6PrefixLength</c>).</summary>
    public bool TryEnter(HttpContext context, IPAddress client, [NotNullWhen(false)] out Task? refusal) =>
        TryEnter(context, IpGroups.Group(client, options.CurrentValue.RateLimits.Ipv6PrefixLength), out refusal);

    private bool TryEnter(HttpContext context, UInt128 group, [NotNullWhen(false)] out Task? refusal)
    {
        var feature = RateLimitFeature.For(context, reuse: false);
        feature.Add(policies.Ip(group));
        switch (counter.AcquireIp(feature))
        {
            case IpDecision.Refused:
                refusal = RateLimitRejection.WriteAsync(context, feature, LimitSlot.Ip, LimitSlot.AfterIp, metrics);
                return false;
            case IpDecision.Deferred:
                counter.SettleDeferredIp(feature);
                break;
        }

        feature.Report(LimitSlot.Ip);
        refusal = null;
        return true;
    }
}
