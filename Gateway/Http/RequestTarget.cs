using System.Buffers;
using System.Text;

namespace Gateway.Http;

/// <summary>
/// Finds request targets whose path an upstream may read differently from the gateway's router, the way
/// Envoy's <c>normalize_path</c>, <c>merge_slashes</c> and <c>path_with_escaped_slashes_action</c> do:
/// an empty segment (<c>//</c>, which nginx merges), a <c>;</c> parameter (which Tomcat and Spring drop,
/// so <c>/admin;x/y</c> is <c>/admin/y</c> to them), a dot segment in any spelling (<c>..;</c> and
/// <c>%2e%2e</c> included, which Kestrel does not resolve before routing but upstreams do), and an encoded
/// <c>/</c>, <c>\</c> or <c>;</c>. Works on the raw target, as the client sent it: Kestrel's decoded
/// <c>Request.Path</c> has already resolved some of these and hides others (<c>%2F</c> stays encoded).
/// </summary>
internal static class RequestTarget
{
    // Everything that can start a finding; a clean path is one vectorized scan between slashes.
    private static readonly SearchValues<char> Suspects = SearchValues.Create("/;\\%");

    /// <summary>The path of a raw request target: origin form up to '?', or the path of an absolute-form target.</summary>
    public static ReadOnlySpan<char> PathOf(string? rawTarget)
    {
        var span = rawTarget.AsSpan();
        if (span.IsEmpty)
        {
            return span;
        }

        if (span[0] != '/')
        {
            // Absolute form (http://host/path); '*' and authority form have no path to check.
            var scheme = span.IndexOf("://", StringComparison.Ordinal);
            if (scheme < 0)
            {
                return default;
            }

            span = span[(scheme + 3)..];
            var slash = span.IndexOf('/');
            if (slash < 0)
            {
                return default;
            }

            span = span[slash..];
        }

        var query = span.IndexOf('?');
        return query < 0 ? span : span[..query];
    }

    /// <summary>True when <paramref name="path"/> has none of the findings; allocates nothing.</summary>
    public static bool IsClean(ReadOnlySpan<char> path)
    {
        var i = 0;
        while (true)
        {
            var at = path[i..].IndexOfAny(Suspects);
            if (at < 0)
            {
                return true;
            }

            i += at;
            switch (path[i])
            {
                case ';' or '\\':
                    return false;
                case '%':
                    if (EncodedSeparator(path, i) != '\0')
                    {
                        return false;
                    }

                    break;
                default:
                    // '/': look at the segment it opens. Only one starting with '.' or '%' can be a dot segment.
                    if (i + 1 < path.Length)
                    {
                        var next = path[i + 1];
                        if (next == '/' || ((next == '.' || next == '%') && IsDotSegment(Segment(path, i + 1))))
                        {
                            return false;
                        }
                    }

                    break;
            }

            i++;
        }
    }

    /// <summary>
    /// What the path means once empty and dot segments are resolved (RFC 3986 section 5.2.4), ';' parameters
    /// dropped and encoded (or raw) '\' and encoded '/' read as '/': the reading of the most lenient upstream,
    /// so the path the gateway authorizes and forwards is never less privileged than one an upstream serves.
    /// Other percent-encodings are kept as sent. Returns a raw (still encoded) path.
    /// </summary>
    public static string Normalize(ReadOnlySpan<char> path)
    {
        // Separators first: %2F, %5C and '\' become '/', so what they hid is split into segments below.
        var text = new StringBuilder(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            var encoded = c == '%' ? EncodedSeparator(path, i) : '\0';
            if (encoded is '/' or '\\')
            {
                text.Append('/');
                i += 2;
            }
            else if (encoded == ';')
            {
                text.Append(';');
                i += 2;
            }
            else
            {
                text.Append(c == '\\' ? '/' : c);
            }
        }

        var segments = new List<string>();
        var parts = text.ToString().Split('/');
        var trailingSlash = false;

        // parts[0] is what precedes the leading '/' (empty for an origin-form path).
        for (var p = 1; p < parts.Length; p++)
        {
            var segment = parts[p];
            var parameters = segment.IndexOf(';');
            if (parameters >= 0)
            {
                segment = segment[..parameters];
            }

            var last = p == parts.Length - 1;
            var dots = Dots(segment);
            if (dots > 0)
            {
                if (dots == 2 && segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }

                trailingSlash = last;
            }
            else if (segment.Length == 0)
            {
                trailingSlash = last;
            }
            else
            {
                segments.Add(segment);
                trailingSlash = false;
            }
        }

        var result = "/" + string.Join('/', segments);
        return trailingSlash && segments.Count > 0 ? result + "/" : result;
    }

    private static ReadOnlySpan<char> Segment(ReadOnlySpan<char> path, int start)
    {
        var rest = path[start..];
        var end = rest.IndexOf('/');
        return end < 0 ? rest : rest[..end];
    }

    private static bool IsDotSegment(ReadOnlySpan<char> segment) => Dots(segment) > 0;

    /// <summary>1 or 2 for a segment of one or two dots, each written '.' or "%2e" (any case); else 0.</summary>
    private static int Dots(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        for (var i = 0; i < segment.Length; i++)
        {
            if (segment[i] == '.')
            {
                dots++;
            }
            else if (segment[i] == '%' && i + 2 < segment.Length && segment[i + 1] == '2' && (segment[i + 2] | 0x20) == 'e')
            {
                dots++;
                i += 2;
            }
            else
            {
                return 0;
            }
        }

        return dots is 1 or 2 ? dots : 0;
    }

    /// <summary>The separator an escape at <paramref name="at"/> encodes ('/', '\' or ';'), or '\0'.</summary>
    private static char EncodedSeparator(ReadOnlySpan<char> path, int at)
    {
        if (at + 2 >= path.Length)
        {
            return '\0';
        }

        var high = path[at + 1];
        var low = (char)(path[at + 2] | 0x20);
        return (high, low) switch
        {
            ('2', 'f') => '/',
            ('5', 'c') => '\\',
            ('3', 'b') => ';',
            _ => '\0',
        };
    }
}
