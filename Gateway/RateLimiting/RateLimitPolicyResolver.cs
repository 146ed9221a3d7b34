using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Domain;
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

        AddRequestLimits(feature, key, RoutePolicy.For(context.ProxyFeature().Route.Config).RateLimitPolicy);
    }

    /// <summary>
    /// The limits a request of <paramref name="key"/> is charged after the IP limit, appended to <paramref name="batch"/>:
    /// the route policy <paramref name="policyName"/> (when it names one) or the workspace limit, then the key's own.
    /// Shared by the proxy's request stage and the verify API, so both charge exactly the same limits.
    /// </summary>
    public void AddRequestLimits(LimitBatch batch, ApiKeyRecord key, string? policyName)
    {
        var rateLimits = options.CurrentValue.RateLimits;
        if (policyName is not null && rateLimits.Policies.TryGetValue(policyName, out var policy))
        {
            batch.Add(LimitSpec.ForRoute(policyName, key.OrgId, policy.PermitLimit, policy.Window));
        }
        else
        {
            batch.Add(LimitSpec.ForWorkspace(key.OrgId, rateLimits.Workspace.PermitLimit, rateLimits.Workspace.Window));
        }

        if (key.RateLimit is { } own)
        {
            batch.Add(LimitSpec.ForKey(key.Id, own.PermitLimit, own.Window));
        }
    }
}
