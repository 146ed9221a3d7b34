namespace Gateway.Configuration;

/// <summary>
/// The <c>Gateway:Admin</c> settings. The token is refused at start when it is short, a known placeholder
/// or plainly not random: the shipped manifests carried <c>change-me-…</c>, and a gateway that accepts it
/// hands the admin API to anyone who has read them.
/// </summary>
internal static class AdminOptionsValidation
{
    public const int MinTokenLength = 32;
    public const int MinDistinctCharacters = 10;

    /// <summary>Bits per character, counted over the token's own characters; 32 random hex digits score about 3.5.</summary>
    public const double MinBitsPerCharacter = 3.0;

    /// <summary>Substrings that mark a value copied from an example rather than generated (compared case-insensitively).</summary>
    internal static readonly string[] Placeholders =
        ["change-me", "change_me", "changeme", "replace-me", "replaceme", "placeholder", "secret", "password", "passwd", "example", "todo", "xxx", "dummy"];

    public static void Validate(List<string> errors, string section, AdminOptions admin)
    {
        if (admin.Token is { Length: > 0 } token && TokenProblem(token) is { } problem)
        {
            errors.Add($"{section}:Token {problem}; generate one with e.g. 'openssl rand -hex 24', or leave it empty to have one generated.");
        }

        GatewayOptionsValidator.Limit(errors, $"{section}:FailedAttempts", admin.FailedAttempts);
        GatewayOptionsValidator.Limit(errors, $"{section}:GlobalFailedAttempts", admin.GlobalFailedAttempts);
        if (admin.FailedAttempts is { } perAddress && admin.GlobalFailedAttempts is { } global && global.PermitLimit < perAddress.PermitLimit)
        {
            errors.Add($"{section}:GlobalFailedAttempts:PermitLimit must be at least {section}:FailedAttempts:PermitLimit (got {global.PermitLimit} < {perAddress.PermitLimit}).");
        }

        var proxies = admin.TrustedProxies ?? [];
        for (var i = 0; i < proxies.Count; i++)
        {
            if (!GatewayOptionsValidator.IsIpOrCidr(proxies[i]))
            {
                errors.Add($"{section}:TrustedProxies:{i} must be an IP address or CIDR (got '{proxies[i]}').");
            }
        }
    }

    /// <summary>Why <paramref name="token"/> is not acceptable as the admin token (never quoting it), or null.</summary>
    internal static string? TokenProblem(string token)
    {
        if (token.Any(c => c is <= ' ' or > '~'))
        {
            // Sent as a Bearer token, which admits no whitespace or non-ASCII: such a token could never match.
            return "must be visible ASCII without spaces";
        }

        if (token.Length < MinTokenLength)
        {
            return $"must be at least {MinTokenLength} characters (got {token.Length})";
        }

        foreach (var placeholder in Placeholders)
        {
            if (token.Contains(placeholder, StringComparison.OrdinalIgnoreCase))
            {
                return $"looks like a placeholder (contains '{placeholder}')";
            }
        }

        var counts = token.GroupBy(c => c).Select(g => g.Count()).ToList();
        if (counts.Count < MinDistinctCharacters)
        {
            return $"is not random enough (fewer than {MinDistinctCharacters} distinct characters)";
        }

        var bits = -counts.Sum(n => (double)n / token.Length * Math.Log2((double)n / token.Length));
        return bits < MinBitsPerCharacter
            ? $"is not random enough ({bits:0.0} bits of entropy per character, at least {MinBitsPerCharacter:0.0} needed)"
            : null;
    }
}
