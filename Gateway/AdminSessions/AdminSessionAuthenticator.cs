using Gateway.Admin;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;

namespace Gateway.AdminSessions;

/// <summary>
/// An admin call without <c>Authorization</c>: the console session cookie, when there is a valid one, names the caller.
/// A POST, PATCH or DELETE also needs <c>X-Gateway-Csrf</c> with the antiforgery token <c>GET /admin/me</c> gave this
/// session: the cookie goes with every request the browser makes, the header only with the console's own.
/// </summary>
internal sealed class AdminSessionAuthenticator(IAntiforgery antiforgery) : IAdminSessionAuthenticator, IAdminCsrfTokens
{
    public const string CsrfHeader = "X-Gateway-Csrf";

    public async ValueTask<AdminSessionResult> AuthenticateAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(AdminSessionSchemes.Cookie);
        if (!result.Succeeded || AdminSessionClaims.ToPrincipal(result.Principal) is not { } principal)
        {
            return AdminSessionResult.None;
        }

        // Antiforgery binds its token to the signed-in user, which it reads from HttpContext.User.
        context.User = result.Principal!;
        var method = context.Request.Method;
        if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method) && !HttpMethods.IsOptions(method) && !HttpMethods.IsTrace(method))
        {
            // Checked here first so that antiforgery never falls back to reading a form body.
            var header = context.Request.Headers[CsrfHeader];
            if (header.Count != 1 || string.IsNullOrEmpty(header[0]) || !await antiforgery.IsRequestValidAsync(context))
            {
                return AdminSessionResult.Csrf;
            }
        }

        return new AdminSessionResult(principal, false);
    }

    public string? Issue(HttpContext context) => antiforgery.GetAndStoreTokens(context).RequestToken;
}
