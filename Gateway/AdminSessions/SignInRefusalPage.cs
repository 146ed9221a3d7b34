using System.Text.Encodings.Web;

namespace Gateway.AdminSessions;

/// <summary>
/// The page a refused sign-in lands on: a 4xx (a 503 while the identity provider cannot be reached) with a sentence a
/// person can act on, not a 500 or a stack trace. The browser arrives here from the identity provider, so this is HTML,
/// and it names no token content.
/// </summary>
internal static class SignInRefusalPage
{
    public static Task WriteAsync(HttpContext context, int status, string reason, string title = "Sign-in refused")
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        var html = $"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><title>{HtmlEncoder.Default.Encode(title)}</title></head>
            <body>
            <h1>{HtmlEncoder.Default.Encode(title)}</h1>
            <p id="reason">{HtmlEncoder.Default.Encode(reason)}</p>
            <p><a href="/console/">Back to the console</a></p>
            </body>
            </html>
            """;
        return response.WriteAsync(html);
    }
}

/// <summary>The sign-in page as an endpoint's result, for a failure found before the OpenID Connect handler runs.</summary>
internal sealed class SignInPageResult(int status, string title, string reason) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext) => SignInRefusalPage.WriteAsync(httpContext, status, reason, title);
}
