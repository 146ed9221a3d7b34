using System.Security.Cryptography;
using System.Text;
using Gateway.Admin;
using Microsoft.AspNetCore.Authentication;

namespace Gateway.AdminSessions;

/// <summary>
/// An admin call without <c>Authorization</c>: the console session cookie, when there is a valid one, names the caller.
/// A POST, PATCH or DELETE also needs <c>X-Gateway-Csrf</c> with the token <c>GET /admin/me</c> gave this session: the
/// cookie goes with every request the browser makes, the header only with the console's own, and only a same-origin
/// script can read <c>/admin/me</c>.
/// </summary>
internal sealed class AdminSessionAuthenticator : IAdminSessionAuthenticator, IAdminCsrfTokens
{
    public const string CsrfHeader = "X-Gateway-Csrf";

    public async ValueTask<AdminSessionResult> AuthenticateAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(AdminSessionSchemes.Cookie);
        if (!result.Succeeded || AdminSessionClaims.ToPrincipal(result.Principal) is not { } principal)
        {
            return AdminSessionResult.None;
        }

        context.User = result.Principal!;
        var method = context.Request.Method;
        if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method) && !HttpMethods.IsOptions(method) && !HttpMethods.IsTrace(method)
            && !CsrfMatches(context.Request.Headers[CsrfHeader], AdminSessionClaims.CsrfToken(result.Principal)!))
        {
            return AdminSessionResult.Csrf;
        }

        return new AdminSessionResult(principal, false);
    }

    public string? Issue(HttpContext context) => AdminSessionClaims.CsrfToken(context.User);

    private static bool CsrfMatches(Microsoft.Extensions.Primitives.StringValues header, string expected) =>
        header.Count == 1 && header[0] is { Length: > 0 } sent
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(sent), Encoding.UTF8.GetBytes(expected));
}
