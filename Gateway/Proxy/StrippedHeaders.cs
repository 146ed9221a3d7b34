using System.Collections.Frozen;
using System.Net.Http.Headers;
using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Gateway.Proxy;

/// <summary>
/// Client request headers that upstream frameworks and servers take on trust and that no client may set
/// through the gateway: client-address headers (a rate limiter or audit log behind the gateway believes
/// them), URL-rewrite headers (IIS, Symfony and Laminas route on them, past the path the gateway
/// authorized) and method overrides (turn an allowed GET into a DELETE). Operators add names with
/// <c>Gateway:StripHeaders</c>. Removed from the upstream request after YARP copied the client's headers
/// and before the route's transforms run, so a route can still set one of these names itself.
/// </summary>
internal sealed class StrippedHeaders
{
    /// <summary>The names removed on every route, whatever the settings say.</summary>
    public static readonly IReadOnlyList<string> BuiltIn =
    [
        "X-Real-IP",
        "True-Client-IP",
        "CF-Connecting-IP",
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "X-Client-IP",
        "X-Cluster-Client-IP",
        "X-Original-Host",
        "X-Host",
        "X-Forwarded-Port",
        "X-Forwarded-Scheme",
        "X-Forwarded-Ssl",
        "X-Url-Scheme",
        "Front-End-Https",
        "X-Forwarded-Server",
        "X-Original-Forwarded-For",
    ];

    /// <summary>
    /// Names YARP sets for the upstream itself, replacing the client's copy: only their spellings with '_' are removed,
    /// which YARP does not see as the same header but CGI, WSGI and Rack servers read as <c>HTTP_X_FORWARDED_FOR</c>.
    /// The dash spellings are left to YARP, so a route that appends to the client's chain still can.
    /// </summary>
    public static readonly IReadOnlyList<string> ForwardedByYarp = ["X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Prefix"];

    private volatile Matcher _matcher;

    public StrippedHeaders(IOptionsMonitor<GatewayOptions> options)
    {
        _matcher = new Matcher(options.CurrentValue.StripHeaders);
        options.OnChange(o => _matcher = new Matcher(o.StripHeaders));
    }

    public bool Contains(string name) => _matcher.Contains(name);

    /// <summary>
    /// Removes the admin console's session cookie (<see cref="AdminSessionCookie"/>) from the upstream request's
    /// <c>Cookie</c> header, keeping the client's other cookies; YARP has joined an HTTP/2 client's cookie fields into one.
    /// </summary>
    public static void RemoveAdminSessionCookie(HttpRequestHeaders headers)
    {
        if (!headers.NonValidated.TryGetValues(HeaderNames.Cookie, out var values))
        {
            return;
        }

        List<string>? kept = null;
        var changed = false;
        foreach (var value in values)
        {
            var rest = AdminSessionCookie.Without(value);
            changed |= !ReferenceEquals(rest, value);
            if (rest is not null)
            {
                (kept ??= []).Add(rest);
            }
        }

        if (!changed)
        {
            return;
        }

        headers.Remove(HeaderNames.Cookie);
        if (kept is not null)
        {
            headers.TryAddWithoutValidation(HeaderNames.Cookie, string.Join("; ", kept));
        }
    }

    /// <summary>Removes every stripped name from <paramref name="headers"/>; enumerating them does not allocate.</summary>
    public void RemoveFrom(HttpRequestHeaders headers)
    {
        var matcher = _matcher;
        List<string>? doomed = null;
        foreach (var header in headers.NonValidated)
        {
            if (matcher.Contains(header.Key))
            {
                (doomed ??= []).Add(header.Key);
            }
        }

        if (doomed is not null)
        {
            foreach (var name in doomed)
            {
                headers.Remove(name);
            }
        }
    }

    private sealed class Matcher
    {
        private readonly FrozenSet<string> _names;
        private readonly FrozenSet<string> _underscoreOnly = ForwardedByYarp.ToFrozenSet(HeaderNameComparer.Instance);

        // Bit n set: some stripped name is n characters long. Most headers are ruled out by length alone,
        // without hashing their name.
        private readonly ulong _lengths;

        public Matcher(IEnumerable<string>? extra)
        {
            _names = BuiltIn.Concat(extra ?? []).Where(n => !string.IsNullOrEmpty(n)).ToFrozenSet(HeaderNameComparer.Instance);
            foreach (var name in _names.Concat(_underscoreOnly))
            {
                _lengths |= name.Length < 64 ? 1UL << name.Length : 1UL << 63;
            }
        }

        public bool Contains(string name)
        {
            var bit = name.Length < 64 ? 1UL << name.Length : 1UL << 63;
            return (_lengths & bit) != 0
                && (_names.Contains(name) || (name.Contains('_', StringComparison.Ordinal) && _underscoreOnly.Contains(name)));
        }
    }

    /// <summary>
    /// Equal ignoring ASCII case, with '_' and '-' the same character: CGI-style upstreams see
    /// <c>X_Real_IP</c> as <c>HTTP_X_REAL_IP</c>, the same as <c>X-Real-IP</c>.
    /// </summary>
    private sealed class HeaderNameComparer : IEqualityComparer<string>
    {
        public static readonly HeaderNameComparer Instance = new();

        public bool Equals(string? x, string? y)
        {
            if (x is null || y is null || x.Length != y.Length)
            {
                return ReferenceEquals(x, y);
            }

            for (var i = 0; i < x.Length; i++)
            {
                if (Fold(x[i]) != Fold(y[i]))
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(string name)
        {
            var hash = new HashCode();
            foreach (var c in name)
            {
                hash.Add(Fold(c));
            }

            return hash.ToHashCode();
        }

        private static char Fold(char c) => c == '_' ? '-' : char.ToLowerInvariant(c);
    }
}
