using Gateway.Stores;

namespace Gateway.Admin;

/// <summary>What an admin token may do. Each role includes the one before it, except <see cref="Verifier"/>, which only verifies.</summary>
internal enum AdminRole
{
    Verifier,
    Viewer,
    Admin,
    Owner,
}

internal static class AdminRoles
{
    public static readonly string[] Names = ["verifier", "viewer", "admin", "owner"];

    public static string Name(this AdminRole role) => Names[(int)role];

    public static AdminRole? Parse(string? text)
    {
        var index = Array.IndexOf(Names, text);
        return index < 0 ? null : (AdminRole)index;
    }

    /// <summary>Whether a token of <paramref name="held"/> may call an endpoint that requires <paramref name="required"/>.</summary>
    public static bool Satisfies(this AdminRole held, AdminRole required) =>
        required == AdminRole.Verifier ? held == AdminRole.Verifier : held != AdminRole.Verifier && held >= required;
}

/// <summary>
/// Who made an admin call: the bootstrap token (<c>Gateway:Admin:Token</c>, every right) or a named operator
/// token with a role and, when <see cref="Org"/> is set, that one organization. Set by the token filter.
/// </summary>
internal sealed record AdminPrincipal(string Name, AdminRole Role, string? Org, string? TokenId, bool IsBootstrap = false)
{
    /// <summary>Signed in through OpenID Connect (a cookie session), not with a token: unsafe calls then need the CSRF header.</summary>
    public bool IsSession { get; init; }

    /// <summary>How the caller authenticated, as <c>GET /admin/me</c> reports it: <c>bootstrap</c>, <c>token</c> or <c>oidc</c>.</summary>
    public string Via => IsBootstrap ? "bootstrap" : IsSession ? "oidc" : "token";

    public static readonly AdminPrincipal Bootstrap = new("admin", AdminRole.Owner, null, null, IsBootstrap: true);

    /// <summary>The caller of an accepted admin call (the bootstrap principal outside one, for handlers under test).</summary>
    public static AdminPrincipal Of(HttpContext context) => context.Features.Get<AdminPrincipal>() ?? Bootstrap;

    /// <summary>Whether objects of <paramref name="org"/> exist for this caller; others answer 404.</summary>
    public bool Sees(string? org) => Org is null || string.Equals(Org, org, StringComparison.Ordinal);
}

/// <summary>Checks a presented admin token that is not the bootstrap token (operator tokens); null when it is not valid now.</summary>
internal interface IAdminTokenAuthenticator
{
    ValueTask<AdminPrincipal?> AuthenticateAsync(string presented, CancellationToken cancellationToken);
}

internal sealed class NoAdminTokens : IAdminTokenAuthenticator
{
    public ValueTask<AdminPrincipal?> AuthenticateAsync(string presented, CancellationToken cancellationToken) => ValueTask.FromResult<AdminPrincipal?>(null);
}

/// <summary>
/// Checks an admin call that carries no <c>Authorization</c> header for a console session (an OpenID Connect sign-in's
/// cookie). <see cref="AdminSessionResult.None"/> when there is none, so the call is refused as before.
/// </summary>
internal interface IAdminSessionAuthenticator
{
    ValueTask<AdminSessionResult> AuthenticateAsync(HttpContext context);
}

/// <summary>The outcome of a session check: no session, a principal, or a session whose unsafe call lacks a valid CSRF token.</summary>
internal sealed record AdminSessionResult(AdminPrincipal? Principal, bool CsrfFailed)
{
    public static readonly AdminSessionResult None = new(null, false);

    public static readonly AdminSessionResult Csrf = new(null, true);
}

/// <summary>Issues the CSRF token a console session sends as <c>X-Gateway-Csrf</c> (registered only when sessions exist).</summary>
internal interface IAdminCsrfTokens
{
    string? Issue(HttpContext context);
}

internal sealed class NoAdminSessions : IAdminSessionAuthenticator
{
    public ValueTask<AdminSessionResult> AuthenticateAsync(HttpContext context) => ValueTask.FromResult(AdminSessionResult.None);
}

/// <summary>
/// A feature that maps endpoints under <c>/admin</c> that need no admin token (signing in): with the error, no-store and
/// IP-limit filters only. Each handler decides what it accepts.
/// </summary>
internal interface IAdminPublicApi
{
    void Map(RouteGroupBuilder admin);
}

/// <summary>A feature that maps endpoints under <c>/admin</c> (or <see cref="Prefix"/>) with the admin API's token, error and authorization filters.</summary>
internal interface IAdminApi
{
    /// <summary>The group the endpoints go under; every group gets the admin filters (see <c>MapGatewayAdmin</c>).</summary>
    string Prefix => "/admin";

    void Map(RouteGroupBuilder admin);
}

/// <summary>
/// An endpoint's authorization rule, read by <see cref="AdminAuthorizationFilter"/>: the least role that may call it and
/// where the organization it acts on comes from. An endpoint without one is refused to every operator token.
/// </summary>
internal sealed record AdminAccess(AdminRole Role, OrgFrom Org, bool AnyRole = false);

/// <summary>Where an endpoint's organization comes from, so a token scoped to one organization sees no other.</summary>
internal abstract class OrgFrom
{
    /// <summary>Not about an organization (settings): any token with the role.</summary>
    public static readonly OrgFrom None = new NoOrg();

    /// <summary>Across every organization (creating orgs, route usage, leaked keys): only tokens without an organization.</summary>
    public static readonly OrgFrom All = new AllOrgs();

    /// <summary>The route value <paramref name="name"/> is the organization id.</summary>
    public static OrgFrom Route(string name) => new FromValue(name, query: false);

    /// <summary>The query parameter <paramref name="name"/> is the organization id.</summary>
    public static OrgFrom Query(string name) => new FromValue(name, query: true);

    /// <summary>The route value <paramref name="name"/> is a key id; the key's organization decides.</summary>
    public static OrgFrom Key(string name) => new FromKey(name);

    /// <summary>
    /// Whether a scoped caller may go on: <see cref="OrgDecision.Allowed"/>, <see cref="OrgDecision.Hide"/> (another
    /// organization's object: 404 as if absent) or <see cref="OrgDecision.Forbidden"/> (needs an org-less token).
    /// </summary>
    public abstract ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope);

    private sealed class NoOrg : OrgFrom
    {
        public override ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope) => ValueTask.FromResult(OrgDecision.Allowed);
    }

    private sealed class AllOrgs : OrgFrom
    {
        public override ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope) => ValueTask.FromResult(OrgDecision.Forbidden);
    }

    private sealed class FromValue(string name, bool query) : OrgFrom
    {
        public override ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope)
        {
            var value = query ? context.Request.Query[name].ToString() : context.Request.RouteValues[name] as string;

            // A missing value is the handler's 400, which tells nothing about other organizations.
            return ValueTask.FromResult(string.IsNullOrEmpty(value) || value == scope
                ? OrgDecision.Allowed
                : OrgDecision.Hide($"Organization '{value}' does not exist."));
        }
    }

    private sealed class FromKey(string name) : OrgFrom
    {
        public override async ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope)
        {
            var id = context.Request.RouteValues[name] as string;
            if (string.IsNullOrEmpty(id))
            {
                return OrgDecision.Allowed;
            }

            var store = context.RequestServices.GetRequiredService<IGatewayStore>();
            var key = await store.GetKeyAsync(id, context.RequestAborted);
            return key is null || key.OrgId == scope ? OrgDecision.Allowed : OrgDecision.Hide($"Key '{id}' does not exist.");
        }
    }
}

internal sealed record OrgDecision(bool IsAllowed, bool IsForbidden, string? NotFound)
{
    public static readonly OrgDecision Allowed = new(true, false, null);

    public static readonly OrgDecision Forbidden = new(false, true, null);

    public static OrgDecision Hide(string notFound) => new(false, false, notFound);
}

internal static class AdminAccessExtensions
{
    /// <summary>Declares who may call this endpoint (or every endpoint of this group): <paramref name="role"/> or above, within the organization <paramref name="org"/> names.</summary>
    public static TBuilder RequireAdminRole<TBuilder>(this TBuilder builder, AdminRole role, OrgFrom org)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new AdminAccess(role, org));
        return builder.ProducesAdminProblem(StatusCodes.Status403Forbidden);
    }

    /// <summary>Declares an endpoint about the caller itself (who am I): every authenticated principal, whatever its role, may call it.</summary>
    public static TBuilder RequireAnyAdminRole<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new AdminAccess(AdminRole.Verifier, OrgFrom.None, AnyRole: true));
}
