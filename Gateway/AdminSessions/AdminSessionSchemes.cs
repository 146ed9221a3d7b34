using Gateway.Http;

namespace Gateway.AdminSessions;

internal static class AdminSessionSchemes
{
    /// <summary>The console session: a Data Protection–encrypted cookie holding who signed in, never a token of the provider.</summary>
    public const string Cookie = "GatewayAdminSession";

    public const string Oidc = "GatewayAdminOidc";

    public const string CookieName = AdminSessionCookie.Name;

    public const string CallbackPath = "/admin/auth/oidc/callback";

    public const string LoginPath = "/admin/auth/oidc/login";
}
