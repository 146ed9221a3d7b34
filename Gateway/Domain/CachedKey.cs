namespace Gateway.Domain;

/// <summary>
/// A key as the key cache holds it and the proxy's stages read it: only what a request needs, for one presented
/// hash. What many keys have alike (organization, environment, scopes, limits, state) is a <see cref="KeyProfile"/>
/// shared between them, times are ticks and the id is two numbers (<see cref="PackedKeyId"/>), so a cached key
/// costs a few dozen bytes besides its name where the stored <see cref="ApiKeyRecord"/> costs about a kilobyte.
/// The admin API keeps working with records.
/// </summary>
public sealed class CachedKey
{
    private readonly KeyProfile _profile;

    private readonly PackedKeyId _id;

    // DateTime ticks (UTC); long.MaxValue for "no expiry".
    private readonly long _expiresAtTicks;

    // What few keys have (a customer, credits, being found by a hash other than their current one, an id of a form
    // that cannot be packed), in one object that most keys do without: three fields fewer in every cached key.
    private readonly Rare? _rare;

    /// <summary>The key found for <paramref name="presented"/>, sharing <paramref name="profile"/> with its look-alikes.</summary>
    internal CachedKey(ApiKeyRecord record, HashValue presented, KeyProfile profile)
        : this(record, profile, OpensUntil(record, presented))
    {
    }

    /// <summary>The key as presented by its current hash, with a profile of its own (tests, benchmarks).</summary>
    internal CachedKey(ApiKeyRecord record)
        : this(record, new KeyProfile(record), long.MaxValue)
    {
    }

    private CachedKey(ApiKeyRecord record, KeyProfile profile, long opensUntilTicks)
    {
        var packed = PackedKeyId.TryPack(record.Id, out _id);
        Name = record.Name;
        _profile = profile;
        _expiresAtTicks = record.ExpiresAt?.UtcTicks ?? long.MaxValue;
        if (record.CustomerId is not null || record.Credits is not null || opensUntilTicks != long.MaxValue || !packed)
        {
            _rare = new Rare(record.CustomerId, record.Credits, opensUntilTicks, packed ? null : record.Id);
        }
    }

    public string Id => _id.IsPacked ? _id.ToText() : _rare!.UnpackedId!;

    public string Name { get; }

    public string OrgId => _profile.OrgId;

    public string Environment => _profile.Environment;

    public IReadOnlyList<string> Scopes => _profile.Scopes;

    public string? CustomerId => _rare?.CustomerId;

    public KeyRateLimit? RateLimit => _profile.RateLimit;

    /// <summary>Prepaid credits; null when the key is not metered by credits.</summary>
    public KeyCredits? Credits => _rare?.Credits;

    /// <summary>Canonical CIDRs the key may be used from; empty means any address.</summary>
    public IReadOnlyList<string> AllowedCidrs => _profile.AllowedCidrs;

    public DateTimeOffset? ExpiresAt => _expiresAtTicks == long.MaxValue ? null : new DateTimeOffset(_expiresAtTicks, TimeSpan.Zero);

    /// <summary>The scopes as one space-separated value, joined once per profile rather than per request.</summary>
    internal string ScopesHeader => _profile.ScopesHeader;

    internal KeyProfile Profile => _profile;

    /// <summary>Whether the hash this key was found by opens it at <paramref name="now"/> (see <c>KeyCheck.Matches</c>).</summary>
    internal bool OpensAt(DateTimeOffset now) => now.UtcTicks < (_rare?.OpensUntilTicks ?? long.MaxValue);

    internal KeyStatus StatusAt(DateTimeOffset now) => _profile.State switch
    {
        KeyState.Revoked => KeyStatus.Revoked,
        KeyState.Inactive => KeyStatus.Inactive,
        _ when _expiresAtTicks <= now.UtcTicks => KeyStatus.Expired,
        _ => KeyStatus.Active,
    };

    internal bool HasScope(string scope)
    {
        foreach (var s in _profile.Scopes)
        {
            if (s == KeyRules.AnyScope || string.Equals(s, scope, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <param name="OpensUntilTicks">
    /// Until when the hash this key was looked up by opens it: always for its current hash, until the end of the
    /// grace period for the hash before its last rotation, never for any other (a lookup that returned another key).
    /// </param>
    /// <param name="UnpackedId">The id when it is not of the form <see cref="PackedKeyId"/> packs.</param>
    private sealed record Rare(string? CustomerId, KeyCredits? Credits, long OpensUntilTicks, string? UnpackedId);

    private static long OpensUntil(ApiKeyRecord record, HashValue presented) =>
        record.HashIs(presented) ? long.MaxValue
        : record.PreviousHashIs(presented) && record.PreviousHashExpiresAt is { } graceEnd ? graceEnd.UtcTicks
        : long.MinValue;
}
