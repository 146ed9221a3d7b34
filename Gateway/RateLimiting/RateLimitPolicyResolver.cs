using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.RateLimiting;

/// <summary>
/// Which limits apply to a request, read from the current settings on every request so edits to
/// appsettings.json apply without restart.
/// </summary>
internal sealed class RateLimitPolicyResolver(IOptionsMonitor<GatewayOptions> options)
{
    public LimitSpec Ip(UInt128 group)
    {
        var limit = options.CurrentValue.RateLimits.Ip;
        return LimitSpec.ForIp(group, limit.PermitLimit, limit.Window);
    }

    /// <summary>After the IP limit: the route policy or the workspace limit, then the key's own limit.</summary>
    public void AddRequestLimits(HttpContext context, RateLimitFeature feature)
    {
        // The key authentication stage sets the key's feature only for a request it let in.
        if (context.Feature<IApiKeyFeature>()?.Key is not { } key)
        {
            return; // anonymous route: only the IP limit applies
        }

        var rateLimits = options.CurrentValue.RateLimits;
        var policyName = RoutePolicy.For(context.ProxyFeature().Route.Config).RateLimitPolicy;
        if (policyName is not null && rateLimits.Policies.TryGetValue(policyName, out var policy))
        {
            feature.Add(LimitSpec.ForRoute(policyName, key.OrgId, policy.PermitLimit, policy.Window));
        }
        else
        {
            feature.Add(LimitSpec.ForWorkspace(key.OrgId, rateLimits.Workspace.PermitLimit, rateLimits.Workspace.Window));
        }

        if (key.RateLimit is { } own)
        {
            feature.Add(LimitSpec.ForKey(key.Id, own.PermitLimit, own.Window));
        }
    }
}
