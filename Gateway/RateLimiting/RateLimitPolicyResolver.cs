using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Model;

namespace Gateway.RateLimiting;

/// <summary>
/// Which limits apply to a request (docs/rate-limits.md), read from the current settings on every
/// request so edits to appsettings.json apply without restart.
/// </summary>
internal sealed class RateLimitPolicyResolver(IOptionsMonitor<GatewayOptions> options)
{
    public LimitSpec Ip(string ip)
    {
        var limit = options.CurrentValue.RateLimits.Ip;
        return new LimitSpec(LimitSpec.Ip, "ip:" + ip, limit.PermitLimit, limit.Window);
    }

    /// <summary>IP, then the route policy or the workspace limit, then the key's own limit.</summary>
    public List<LimitSpec> ForRequest(HttpContext context, LimitSpec ip)
    {
        var limits = new List<LimitSpec>(3) { ip };
        if (context.Features.Get<IApiKeyFeature>()?.Key is not { } key)
        {
            return limits; // anonymous route: only the IP limit applies
        }

        var rateLimits = options.CurrentValue.RateLimits;
        var policyName = RoutePolicy.For(context.GetReverseProxyFeature().Route.Config).RateLimitPolicy;
        if (policyName is not null && rateLimits.Policies.TryGetValue(policyName, out var policy))
        {
            limits.Add(new LimitSpec(LimitSpec.Route, $"route:{policyName}:{key.OrgId}", policy.PermitLimit, policy.Window));
        }
        else
        {
            limits.Add(new LimitSpec(LimitSpec.Workspace, "ws:" + key.OrgId, rateLimits.Workspace.PermitLimit, rateLimits.Workspace.Window));
        }

        if (key.RateLimit is { } own)
        {
            limits.Add(new LimitSpec(LimitSpec.Key, "key:" + key.Id, own.PermitLimit, own.Window));
        }

        return limits;
    }
}
