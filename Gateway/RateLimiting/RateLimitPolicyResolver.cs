using Gateway.Domain;
using Gateway.Configuration;
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

    /// <summary>
    /// After the IP limit: the route policy or the workspace limit, then the customer's rate limit (shared by its
    /// keys), then the key's own limit.
    /// </summary>
    public void AddRequestLimits(LimitBatch batch, CachedKey key, string? policyName, KeyRateLimit? customerLimit, string? customerId)
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

        if (customerLimit is { } shared && customerId is not null)
        {
            batch.Add(LimitSpec.ForCustomer(key.OrgId, customerId, shared.PermitLimit, shared.Window));
        }

        if (key.RateLimit is { } own)
        {
            batch.Add(LimitSpec.ForKey(key.Id, own.PermitLimit, own.Window));
        }
    }
}
