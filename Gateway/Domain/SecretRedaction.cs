using System.Buffers;
using System.Text;

namespace Gateway.Domain;

/// <summary>
/// Takes the secret characters of keys and admin tokens out of text a client chose (a request path) before the
/// gateway keeps or shows it: the request log, the admin listener's log lines, span tags. A key keeps its prefix and
/// tag (<c>gw_live_[redacted]</c>) and a token its kind (<c>gwa_[redacted]</c>): enough to see that one was sent where
/// it does not belong, nothing of the key itself, not even the display prefix, which logs and traces never carry.
/// </summary>
/// <remarks>
/// Keys are matched by their shape (a prefix, a tag, 38 base62 characters), not by their checksum: a key
/// with a typo in it is still 37 characters of a key. Text without a tag (<c>_live_</c>, <c>_stage_</c>,
/// <c>_dev_</c>) or an admin token's prefix costs one vectorized search and comes back as the very same string:
/// the request log redacts every path on the request path. The tags rather than the configured
/// <c>Gateway:KeyPrefix</c> are what is searched for, so keys issued under an earlier prefix are caught too.
/// </remarks>
internal static class SecretRedaction
{
    public const string Redacted = "[redacted]";

    private const int KeyTailLength = KeyRules.KeyRandomLength + KeyRules.KeyCheckLength;

    // Operator tokens (gwa_, Operators/OperatorTokenFormat) and the bootstrap token the gateway generates (adm_,
    // Admin/AdminToken): 40 base62 characters after the prefix. Both features sit above this one; a test checks that
    // the tokens they make are redacted.
    private const int AdminTokenPrefixLength = 4;
    private const int AdminTokenRandomLength = 40;

    private static readonly SearchValues<string> Markers = SearchValues.Create(
        [.. KeyEnvironments.All.Select(e => "_" + KeyEnvironments.ToTag(e) + "_"), "gwa_", "adm_"],
        StringComparison.Ordinal);

    private static readonly SearchValues<char> Base62 = SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary><paramref name="text"/> itself when it holds no key or admin token; otherwise a copy with their secret characters replaced.</summary>
    public static string Redact(string text)
    {
        var at = text.AsSpan().IndexOfAny(Markers);
        return at < 0 ? text : Redact(text, at);
    }

    private static string Redact(string text, int at)
    {
        var span = text.AsSpan();
        StringBuilder? redacted = null;
        var copied = 0;
        while (at >= 0)
        {
            int next;
            if (TryMatch(span, at, copied, out var start, out var kept, out var end))
            {
                redacted ??= new StringBuilder(text.Length);
                redacted.Append(span[copied..(start + kept)]).Append(Redacted);
                copied = next = end;
            }
            else
            {
                next = at + 1;
            }

            var found = next < span.Length ? span[next..].IndexOfAny(Markers) : -1;
            at = found < 0 ? -1 : next + found;
        }

        return redacted is null ? text : redacted.Append(span[copied..]).ToString();
    }

    /// <summary>
    /// The secret around the marker at <paramref name="at"/>: it spans [<paramref name="start"/>, <paramref name="end"/>),
    /// of which the first <paramref name="kept"/> characters (prefix and tag) stay. Nothing before <paramref name="floor"/> is looked at.
    /// </summary>
    /// <remarks>
    /// It ends after a key's or token's length, also when more base62 follows: the next key's prefix may be right there
    /// (two keys pasted together), and must stay for that key to be found.
    /// </remarks>
    private static bool TryMatch(ReadOnlySpan<char> text, int at, int floor, out int start, out int kept, out int end)
    {
        start = kept = end = 0;
        if (text[at] != '_')
        {
            var random = Base62Run(text, at + AdminTokenPrefixLength);
            if (random < AdminTokenRandomLength)
            {
                return false;
            }

            (start, kept, end) = (at, AdminTokenPrefixLength, at + AdminTokenPrefixLength + AdminTokenRandomLength);
            return true;
        }

        // A tag: the characters after it are the key's random part and checksum, those before it its prefix
        // (a lower-case letter, then letters and digits: KeyRules.KeyPrefixPattern).
        var tagEnd = at + 1 + text[(at + 1)..].IndexOf('_');
        var tail = Base62Run(text, tagEnd + 1);
        if (tail < KeyTailLength)
        {
            return false;
        }

        var prefixStart = at;
        while (prefixStart > floor && at - prefixStart < KeyRules.MaxKeyPrefixLength && text[prefixStart - 1] is (>= 'a' and <= 'z') or (>= '0' and <= '9'))
        {
            prefixStart--;
        }

        while (prefixStart < at && text[prefixStart] is >= '0' and <= '9')
        {
            prefixStart++;
        }

        if (!KeyRules.IsValidKeyPrefix(text[prefixStart..at]))
        {
            return false;
        }

        (start, kept, end) = (prefixStart, tagEnd + 1 - prefixStart, tagEnd + 1 + KeyTailLength);
        return true;
    }

    private static int Base62Run(ReadOnlySpan<char> text, int from)
    {
        if (from >= text.Length)
        {
            return 0;
        }

        var run = text[from..].IndexOfAnyExcept(Base62);
        return run < 0 ? text.Length - from : run;
    }
}
