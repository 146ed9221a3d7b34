namespace Gateway.Http;

/// <summary>
/// The admin console's session cookie. Browsers send a host's cookies to every port of that host, so a console signed
/// in on the admin listener sends its session to the proxy listener too when both share a host name; the proxy
/// removes it before forwarding, or an upstream, or anyone reading its logs, could replay the operator's session.
/// Named here, not in AdminSessions, because the proxy must know the name without depending on the console.
/// </summary>
internal static class AdminSessionCookie
{
    public const string Name = "gateway-admin-session";

    /// <summary>
    /// Whether <paramref name="name"/> is the session's cookie: plain, <c>__Host-</c> prefixed (on https), or one of the
    /// chunks ASP.NET splits a large cookie into (<c>…C1</c>, <c>…C2</c>).
    /// </summary>
    public static bool IsSessionCookie(ReadOnlySpan<char> name)
    {
        name = name.Trim();
        if (name.StartsWith("__Host-", StringComparison.OrdinalIgnoreCase))
        {
            name = name["__Host-".Length..];
        }

        if (!name.StartsWith(Name, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = name[Name.Length..];
        return rest.IsEmpty || (rest.Length > 1 && rest[0] == 'C' && !rest[1..].ContainsAnyExceptInRange('0', '9'));
    }

    /// <summary>
    /// A <c>Cookie</c> header value without the session's cookies: the value itself when it has none (the common case
    /// decided by one search), null when nothing else is left.
    /// </summary>
    public static string? Without(string cookies)
    {
        if (!cookies.Contains(Name, StringComparison.OrdinalIgnoreCase))
        {
            return cookies;
        }

        var kept = new List<string>();
        foreach (var pair in cookies.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? pair.AsSpan() : pair.AsSpan(0, equals);
            if (!IsSessionCookie(name))
            {
                kept.Add(pair);
            }
        }

        return kept.Count == 0 ? null : string.Join("; ", kept);
    }
}
