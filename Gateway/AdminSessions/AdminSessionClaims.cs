using System.Globalization;
using System.Buffers.Text;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Gateway.Admin;

namespace Gateway.AdminSessions;

/// <summary>
/// Turns a validated ID token into the session's few claims (who, role, organization, when signed in, its CSRF
/// token), and a session
/// back into an <see cref="AdminPrincipal"/>. Fails closed: no role, several roles, an unknown role, no organization
/// claim or a malformed one refuses the sign-in. <c>*</c> as the organization means every organization, so an
/// operator must say so; a forgotten claim never widens access.
/// </summary>
internal static partial class AdminSessionClaims
{
    public const string AuthenticationType = "gateway-oidc";
    public const string Subject = "sub";
    public const string Name = "gateway_name";
    public const string Role = "gateway_role";
    public const string Org = "gateway_org";
    public const string SignedInAt = "gateway_signed_in_at";
    public const string Csrf = "gateway_csrf";
    public const string AllOrgs = "*";

    /// <summary>The session's identity, or the reason the sign-in is refused.</summary>
    public static (ClaimsIdentity? Identity, string? Refusal) FromIdToken(ClaimsPrincipal token, AdminOidcOptions options, DateTimeOffset now)
    {
        var roles = Values(token, options.RoleClaim);
        if (roles.Count == 0)
        {
            return (null, $"Your account has no '{options.RoleClaim}' claim, so the gateway does not know your role. Ask your identity provider's administrator to map one of verifier, viewer, admin or owner.");
        }

        if (roles.Count > 1)
        {
            return (null, $"Your account has several '{options.RoleClaim}' values; the gateway needs exactly one of verifier, viewer, admin or owner.");
        }

        if (AdminRoles.Parse(roles[0]) is null)
        {
            return (null, $"Your account's '{options.RoleClaim}' claim is not one of verifier, viewer, admin or owner.");
        }

        var orgs = Values(token, options.OrgClaim);
        if (orgs.Count != 1 || (orgs[0] != AllOrgs && !OrgId().IsMatch(orgs[0])))
        {
            return (null, $"Your account needs exactly one '{options.OrgClaim}' claim: an organization id, or * for every organization.");
        }

        var subject = token.FindFirst("sub")?.Value;
        if (string.IsNullOrEmpty(subject))
        {
            return (null, "The identity provider's token names no subject.");
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(Subject, subject),
                new Claim(Name, DisplayName(token, subject)),
                new Claim(Role, roles[0]),
                new Claim(Org, orgs[0]),
                new Claim(SignedInAt, now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)),
                new Claim(Csrf, Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32))),
            ],
            AuthenticationType,
            Name,
            Role);
        return (identity, null);
    }

    /// <summary>The caller a session stands for, or null when the session's claims are not (or no longer) valid.</summary>
    public static AdminPrincipal? ToPrincipal(ClaimsPrincipal? session)
    {
        var name = session?.FindFirst(Name)?.Value;
        var role = AdminRoles.Parse(session?.FindFirst(Role)?.Value);
        var org = session?.FindFirst(Org)?.Value;
        // A name without '<' comes from a session made before actors were always bracketed: it could read as a token's actor.
        if (string.IsNullOrEmpty(name) || !name.Contains('<', StringComparison.Ordinal) || role is null || org is null || (org != AllOrgs && !OrgId().IsMatch(org))
            || string.IsNullOrEmpty(CsrfToken(session)))
        {
            return null;
        }

        return new AdminPrincipal(name, role.Value, org == AllOrgs ? null : org, null) { IsSession = true };
    }

    /// <summary>
    /// The session's CSRF token: drawn once at sign-in and kept in the encrypted cookie, so every tab and every
    /// <c>GET /admin/me</c> of one session gets the same value. A token minted per call and paired with a cookie of its
    /// own loses to a race: two calls at once each set a new cookie, and the token from the one whose cookie the
    /// browser kept last is the only one that still works.
    /// </summary>
    public static string? CsrfToken(ClaimsPrincipal? session) => session?.FindFirst(Csrf)?.Value;

    public static DateTimeOffset? SignedIn(ClaimsPrincipal? session) =>
        long.TryParse(session?.FindFirst(SignedInAt)?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    /// <summary>
    /// The audit log's actor: <c>Name &lt;email&gt;</c>, or <c>Name &lt;subject&gt;</c> without an email, or just the
    /// bracketed part without a name; printable and at most 128 characters like an actor header. The brackets keep it
    /// apart from every other actor: an operator token's name cannot hold '&lt;', and <c>admin</c> (the bootstrap token)
    /// and <c>gateway</c> have none, so a person whose provider calls them "admin" is never taken for the bootstrap token.
    /// </summary>
    internal static string DisplayName(ClaimsPrincipal token, string subject)
    {
        const int MaxLength = 128;
        var name = Clean(token.FindFirst("name")?.Value) is { Length: > 0 } n ? n : Clean(token.FindFirst("preferred_username")?.Value);
        var id = Clean(token.FindFirst("email")?.Value) is { Length: > 0 } email ? email : Clean(subject);
        var bracketed = $"<{(id.Length > MaxLength - 8 ? id[..(MaxLength - 8)] : id)}>";

        // The name gives way first: the bracketed identity is what tells people apart.
        var room = MaxLength - bracketed.Length - 1;
        return name.Length == 0 ? bracketed : $"{(name.Length > room ? name[..room].TrimEnd() : name)} {bracketed}";
    }

    private static string Clean(string? text) =>
        text is null ? "" : new string(text.Where(c => !char.IsControl(c) && c is not '<' and not '>').ToArray()).Trim();

    private static List<string> Values(ClaimsPrincipal token, string type) =>
        token.FindAll(type).Select(c => c.Value).Where(v => v.Length > 0).Distinct(StringComparer.Ordinal).ToList();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex OrgId();
}
