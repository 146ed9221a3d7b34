using Gateway.Auth;
using Gateway.Domain;
using Gateway.Http;

namespace Gateway.IpAllowlist;

/// <summary>
/// After key authentication: a key with <c>allowedCidrs</c> is refused (403 <c>ip_not_allowed</c>) from
/// any other client IP, resolved through trusted proxies exactly as the IP limit resolves it. Runs before
/// the workspace and key limits, so the refusal is charged to the client IP only, like an
/// authentication failure.
/// </summary>
internal sealed class KeyIpAllowlistMiddleware(RequestDelegate next, ClientIpResolver ips)
{
    public Task InvokeAsync(HttpContext context)
    {
        // Anonymous routes carry no key; most keys have no allowlist, and those cost one property read.
        if (context.Feature<IApiKeyFeature>()?.Key is not { AllowedCidrs.Count: > 0 } key
            || AllowedCidrs.Allows(key.AllowedCidrs, ips.ResolveAddress(context)))
        {
            return next(context);
        }

        // The client's address is not echoed: behind a proxy chain it is the gateway's reading, not a fact to argue with.
        return GatewayProblem.WriteAsync(context, ProblemCodes.IpNotAllowed, "This API key may not be used from this network address.");
    }
}
