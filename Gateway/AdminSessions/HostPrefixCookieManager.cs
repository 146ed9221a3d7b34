using Microsoft.AspNetCore.Authentication.Cookies;

namespace Gateway.AdminSessions;

/// <summary>
/// Names the session cookie <c>__Host-…</c> (and makes it Secure, host-only, Path=/) on https, so no other host of the
/// domain and no plain-http page can set or overwrite it. Browsers refuse a <c>__Host-</c> cookie that is not Secure,
/// so on plain http (a lab, the tests) the same cookie goes without the prefix.
/// </summary>
internal sealed class HostPrefixCookieManager : ICookieManager
{
    public const string Prefix = "__Host-";

    private readonly ChunkingCookieManager _inner = new();

    public static string NameFor(HttpContext context, string key) => context.Request.IsHttps ? Prefix + key : key;

    public string? GetRequestCookie(HttpContext context, string key) => _inner.GetRequestCookie(context, NameFor(context, key));

    public void AppendResponseCookie(HttpContext context, string key, string? value, CookieOptions options) =>
        _inner.AppendResponseCookie(context, NameFor(context, key), value, Harden(context, options));

    public void DeleteCookie(HttpContext context, string key, CookieOptions options) =>
        _inner.DeleteCookie(context, NameFor(context, key), Harden(context, options));

    private static CookieOptions Harden(HttpContext context, CookieOptions options)
    {
        if (context.Request.IsHttps)
        {
            options.Secure = true;
            options.Domain = null;
            options.Path = "/";
        }

        return options;
    }
}
