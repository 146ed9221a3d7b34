using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;

namespace Gateway.AspNetCore;

/// <summary>The claims both handlers put on the principal.</summary>
public static class GatewayClaimTypes
{
    public const string OrgId = "gateway:org";
    public const string KeyId = "gateway:key_id";
    public const string KeyName = "gateway:key_name";

    /// <summary>One claim per scope the key holds (<c>*</c>: every scope).</summary>
    public const string Scope = "scope";

    public const string CustomerId = "gateway:customer";
    public const string Environment = "gateway:environment";
}

public static class GatewayPrincipal
{
    /// <summary>The principal of a key: <see cref="ClaimTypes.NameIdentifier"/> is the key id, <see cref="ClaimTypes.Name"/> its name.</summary>
    public static ClaimsPrincipal Create(string scheme, string orgId, string keyId, string? keyName, IEnumerable<string> scopes, string? customerId, string? environment)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        var claims = new List<Claim>
        {
            new(GatewayClaimTypes.OrgId, orgId),
            new(GatewayClaimTypes.KeyId, keyId),
            new(ClaimTypes.NameIdentifier, keyId),
        };
        if (!string.IsNullOrEmpty(keyName))
        {
            claims.Add(new Claim(GatewayClaimTypes.KeyName, keyName));
            claims.Add(new Claim(ClaimTypes.Name, keyName));
        }

        claims.AddRange(scopes.Where(s => s.Length > 0).Select(s => new Claim(GatewayClaimTypes.Scope, s)));
        if (!string.IsNullOrEmpty(customerId))
        {
            claims.Add(new Claim(GatewayClaimTypes.CustomerId, customerId));
        }

        if (!string.IsNullOrEmpty(environment))
        {
            claims.Add(new Claim(GatewayClaimTypes.Environment, environment));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>Whether the key holds <paramref name="scope"/>, directly or through <c>*</c>.</summary>
    public static bool HasGatewayScope(this ClaimsPrincipal principal, string scope)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return principal.HasClaim(c => c.Type == GatewayClaimTypes.Scope && (c.Value == "*" || string.Equals(c.Value, scope, StringComparison.Ordinal)));
    }

    /// <summary>The policy requires a key holding every one of <paramref name="scopes"/> (or <c>*</c>).</summary>
    public static AuthorizationPolicyBuilder RequireGatewayScope(this AuthorizationPolicyBuilder policy, params string[] scopes)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.RequireAuthenticatedUser().RequireAssertion(context => scopes.All(s => context.User.HasGatewayScope(s)));
    }
}
