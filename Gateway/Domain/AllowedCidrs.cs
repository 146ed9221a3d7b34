using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Gateway.Domain;

/// <summary>
/// A key's network allowlist: the rules for writing one and the check on every request. Entries are
/// stored in canonical form (<c>10.1.0.0/16</c>, <c>2001:db8::/32</c>), so what the admin API shows is
/// exactly what is enforced.
/// </summary>
internal static class AllowedCidrs
{
    public const int MaxCount = 100;

    private static readonly ConditionalWeakTable<IReadOnlyList<string>, IPNetwork[]> Parsed = new();

    /// <summary>
    /// Accepts an IPv4 or IPv6 CIDR, or a single address (taken as /32 or /128). Refuses what the lenient
    /// <see cref="IPAddress.TryParse(string?, out IPAddress?)"/> would read in surprising ways: short or hex
    /// IPv4 forms (<c>10</c>, <c>0x0a.0.0.1</c>), leading zeros, zone ids, whitespace, and host bits set
    /// past the prefix (<c>10.0.0.1/8</c> is most likely a typo for a single host or for <c>10.0.0.0/8</c>).
    /// </summary>
    public static bool TryNormalize(string? value, out string canonical, out string error)
    {
        canonical = "";
        error = "";
        if (string.IsNullOrEmpty(value) || value.Length > 64)
        {
            error = "Must be an IPv4 or IPv6 CIDR such as 203.0.113.0/24 or 2001:db8::/32.";
            return false;
        }

        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var address = slash < 0 ? value : value[..slash];
        var prefixText = slash < 0 ? null : value[(slash + 1)..];
        foreach (var c in address)
        {
            if (!(char.IsAsciiHexDigit(c) || c is ':' or '.'))
            {
                error = $"'{Shown(value)}' is not an IPv4 or IPv6 CIDR (address part has '{Shown(c.ToString())}').";
                return false;
            }
        }

        if (!TryParseAddress(address, out var ip))
        {
            error = $"'{Shown(value)}' is not an IPv4 or IPv6 CIDR (bad address).";
            return false;
        }

        var max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (ip.IsIPv4MappedToIPv6)
        {
            // Refused rather than mapped: an IPv4 client (also one on a dual-stack socket, whose address
            // arrives as ::ffff:a.b.c.d) is matched as IPv4, so such an entry would never match anything,
            // and storing a rewritten entry would show something other than what was written.
            error = $"'{Shown(value)}' is an IPv4-mapped IPv6 address, which no client is matched as; write the IPv4 CIDR instead{MappedHint(ip, prefixText)}.";
            return false;
        }

        var prefix = max;
        if (prefixText is not null
            && (prefixText.Length is 0 or > 3 || (prefixText.Length > 1 && prefixText[0] == '0') || !prefixText.All(char.IsAsciiDigit)
                || (prefix = int.Parse(prefixText, System.Globalization.CultureInfo.InvariantCulture)) > max))
        {
            error = $"'{Shown(value)}' has a bad prefix length (0 to {max}).";
            return false;
        }

        var network = new IPNetwork(Mask(ip, prefix), prefix);
        if (!network.BaseAddress.Equals(ip))
        {
            error = $"'{Shown(value)}' has bits set after the /{prefix} prefix; did you mean {network}?";
            return false;
        }

        canonical = network.ToString();
        return true;
    }

    /// <summary>True when <paramref name="cidrs"/> is empty (any address) or one of them holds <paramref name="client"/>.</summary>
    public static bool Allows(IReadOnlyList<string> cidrs, IPAddress client)
    {
        if (cidrs.Count == 0)
        {
            return true;
        }

        if (client.IsIPv4MappedToIPv6)
        {
            client = client.MapToIPv4();
        }

        // Parsed once per stored list; a changed key brings a new list instance.
        foreach (var network in Parsed.GetValue(cidrs, static list => [.. list.Select(c => IPNetwork.TryParse(c, out var n) ? n : (IPNetwork?)null).OfType<IPNetwork>()]))
        {
            if (network.Contains(client))
            {
                return true;
            }
        }

        return false;
    }

    // "::ffff:10.0.0.0/104" → " (10.0.0.0/8)", when the prefix covers the IPv4 part.
    private static string MappedHint(IPAddress ip, string? prefixText) =>
        prefixText is null ? $" ({ip.MapToIPv4()}/32)"
        : int.TryParse(prefixText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var prefix) && prefix is >= 96 and <= 128
            ? $" ({Mask(ip, prefix).MapToIPv4()}/{prefix - 96})"
            : "";

    /// <summary>
    /// One address, read as strictly as an allowlist entry: an IPv4 address only as a dotted quad without leading zeros
    /// (never <c>101058054</c> or <c>0x6060606</c>, which the lenient parser reads as 6.6.6.6), no zone id or whitespace.
    /// </summary>
    public static bool TryParseAddress(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrEmpty(text) || text.Length > 45 || !text.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.'))
        {
            return false;
        }

        if (!IPAddress.TryParse(text, out var parsed) || (parsed.AddressFamily == AddressFamily.InterNetwork && !IsDottedQuad(text)))
        {
            return false;
        }

        address = parsed;
        return true;
    }

    private static bool IsDottedQuad(string text)
    {
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit) && (p.Length == 1 || p[0] != '0'));
    }

    private static IPAddress Mask(IPAddress ip, int prefix)
    {
        var bytes = ip.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }

        return new IPAddress(bytes);
    }

    // Echoes at most a short, printable excerpt of what was sent.
    private static string Shown(string value)
    {
        var printable = new string([.. value.Take(64).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        return printable;
    }
}
