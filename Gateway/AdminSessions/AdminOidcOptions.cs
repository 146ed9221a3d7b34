using Microsoft.Extensions.Options;

namespace Gateway.AdminSessions;

/// <summary>
/// <c>Gateway:Admin:Oidc</c>: OpenID Connect sign-in for the console. Off while <see cref="Authority"/> is empty; then
/// only admin tokens sign in.
/// </summary>
internal sealed class AdminOidcOptions
{
    public const string SectionName = "Gateway:Admin:Oidc";

    /// <summary>The identity provider's issuer URL; its discovery document is <c>{Authority}/.well-known/openid-configuration</c>.</summary>
    public string? Authority { get; set; }

    public string? ClientId { get; set; }

    /// <summary>Optional: a public client signs in with PKCE alone; most providers give web applications a secret.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>The ID token claim whose one value is the role: <c>verifier</c>, <c>viewer</c>, <c>admin</c> or <c>owner</c>.</summary>
    public string RoleClaim { get; set; } = "gateway_role";

    /// <summary>The ID token claim whose one value is the organization id, or <c>*</c> for every organization.</summary>
    public string OrgClaim { get; set; } = "gateway_org";

    /// <summary>Scopes asked for besides <c>openid profile email</c> (a provider may put the role claims behind one).</summary>
    public List<string> Scopes { get; set; } = [];

    /// <summary>A session ends this long after sign-in, however active.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>A session unused this long ends (each call slides it, up to <see cref="SessionLifetime"/>).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Only for a test or a lab: an <c>http://</c> authority. The discovery document and keys then travel unprotected.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority);
}

internal sealed class AdminOidcOptionsValidator : IValidateOptions<AdminOidcOptions>
{
    private const string S = AdminOidcOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, AdminOidcOptions options)
    {
        var errors = new List<string>();
        if (!options.Enabled)
        {
            // A half-made configuration is a mistake, not a choice to leave sign-in off.
            if (!string.IsNullOrWhiteSpace(options.ClientId) || !string.IsNullOrWhiteSpace(options.ClientSecret))
            {
                errors.Add($"{S}:Authority must be set when {S}:ClientId or {S}:ClientSecret is (OpenID Connect sign-in is off without it).");
            }

            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }

        if (!Uri.TryCreate(options.Authority, UriKind.Absolute, out var authority)
            || (authority.Scheme != Uri.UriSchemeHttps && authority.Scheme != Uri.UriSchemeHttp)
            || !string.IsNullOrEmpty(authority.Query) || !string.IsNullOrEmpty(authority.Fragment))
        {
            errors.Add($"{S}:Authority must be an absolute https URL without query or fragment (got '{options.Authority}').");
        }
        else if (authority.Scheme != Uri.UriSchemeHttps && options.RequireHttpsMetadata)
        {
            errors.Add($"{S}:Authority must use https (got '{options.Authority}'); {S}:RequireHttpsMetadata=false allows http for a test only.");
        }

        if (string.IsNullOrWhiteSpace(options.ClientId))
        {
            errors.Add($"{S}:ClientId must be set when {S}:Authority is.");
        }

        if (string.IsNullOrWhiteSpace(options.RoleClaim))
        {
            errors.Add($"{S}:RoleClaim must not be empty.");
        }

        if (string.IsNullOrWhiteSpace(options.OrgClaim))
        {
            errors.Add($"{S}:OrgClaim must not be empty.");
        }

        for (var i = 0; i < options.Scopes.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(options.Scopes[i]) || options.Scopes[i].Any(c => c is <= ' ' or > '~' or '"' or '\\'))
            {
                errors.Add($"{S}:Scopes:{i} must be a scope token without spaces (got '{options.Scopes[i]}').");
            }
        }

        if (options.SessionLifetime < TimeSpan.FromMinutes(5) || options.SessionLifetime > TimeSpan.FromDays(1))
        {
            errors.Add($"{S}:SessionLifetime must be between 00:05:00 and 1.00:00:00 (got {options.SessionLifetime}).");
        }

        if (options.IdleTimeout < TimeSpan.FromMinutes(1) || options.IdleTimeout > options.SessionLifetime)
        {
            errors.Add($"{S}:IdleTimeout must be between 00:01:00 and {S}:SessionLifetime (got {options.IdleTimeout}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
