namespace Gateway.Domain;

/// <summary>
/// The rules for keys and limits, written once: the admin API's body parsers, the options validator, the
/// route-metadata validator, the key manager and the key format all ask here, so a rule cannot drift
/// between the place that checks a setting and the place that checks a request.
/// </summary>
internal static class KeyRules
{
    /// <summary>The scope every key may hold and every route may name: all scopes.</summary>
    public const string AnyScope = "*";

    public static readonly TimeSpan MaxGracePeriod = TimeSpan.FromDays(7);

    public const string GracePeriodRange = "between 00:00:00 and 7.00:00:00";

    public static readonly TimeSpan MinWindow = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan MaxWindow = TimeSpan.FromDays(1);

    public const string WindowRange = "between 00:00:01 and 1.00:00:00";

    public const string KeyPrefixPattern = "^[a-z][a-z0-9]{1,9}$";

    public const int MinKeyPrefixLength = 2;

    public const int MaxKeyPrefixLength = 10;

    /// <summary>A key's random characters and its checksum after the tag (docs/keys.md).</summary>
    public const int KeyRandomLength = 32;

    public const int KeyCheckLength = 6;

    public static bool IsValidGracePeriod(TimeSpan gracePeriod) => gracePeriod >= TimeSpan.Zero && gracePeriod <= MaxGracePeriod;

    public static bool IsValidWindow(TimeSpan window) => window >= MinWindow && window <= MaxWindow;

    /// <summary>No expiry, or one still ahead of <paramref name="now"/>.</summary>
    public static bool IsValidExpiry(DateTimeOffset? expiresAt, DateTimeOffset now) => expiresAt is not { } e || e > now;

    /// <summary>Both stores keep times to the millisecond; truncating first makes a response equal what is stored.</summary>
    public static DateTimeOffset ToStoredPrecision(DateTimeOffset value) => DateTimeOffset.FromUnixTimeMilliseconds(value.ToUnixTimeMilliseconds());

    public static bool IsKnownScope(string scope, IEnumerable<string> configured) => scope == AnyScope || configured.Contains(scope, StringComparer.Ordinal);

    /// <summary><see cref="KeyPrefixPattern"/> without a regex: the key format checks it on every request.</summary>
    public static bool IsValidKeyPrefix(ReadOnlySpan<char> prefix)
    {
        if (prefix.Length is < MinKeyPrefixLength or > MaxKeyPrefixLength || prefix[0] is < 'a' or > 'z')
        {
            return false;
        }

        foreach (var c in prefix)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9')))
            {
                return false;
            }
        }

        return true;
    }
}
