namespace Gateway.Domain;

/// <summary>
/// The part of a key that many keys have alike: organization, environment, scopes, rate limit, allowed CIDRs and
/// state. Compared by value, so the key cache can hold one instance for all the keys of an organization that
/// were issued alike (<c>Keys/KeyProfiles</c>) instead of one set of strings and lists per key.
/// </summary>
internal sealed class KeyProfile : IEquatable<KeyProfile>
{
    public KeyProfile(ApiKeyRecord record)
    {
        OrgId = record.OrgId;
        Environment = record.Environment;
        Scopes = record.Scopes;
        ScopesHeader = record.ScopesHeader;
        RateLimit = record.RateLimit;
        AllowedCidrs = record.AllowedCidrs;
        State = record.State;
    }

    public string OrgId { get; }

    public string Environment { get; }

    public IReadOnlyList<string> Scopes { get; }

    /// <summary>The scopes as one space-separated value, as stamped for the upstream.</summary>
    public string ScopesHeader { get; }

    public KeyRateLimit? RateLimit { get; }

    public IReadOnlyList<string> AllowedCidrs { get; }

    public KeyState State { get; }

    public bool Equals(KeyProfile? other) =>
        other is not null
        && State == other.State
        && string.Equals(OrgId, other.OrgId, StringComparison.Ordinal)
        && string.Equals(Environment, other.Environment, StringComparison.Ordinal)
        && Equals(RateLimit, other.RateLimit)
        && Scopes.SequenceEqual(other.Scopes, StringComparer.Ordinal)
        && AllowedCidrs.SequenceEqual(other.AllowedCidrs, StringComparer.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as KeyProfile);

    public override int GetHashCode() => HashCode.Combine(OrgId, Environment, ScopesHeader, State, AllowedCidrs.Count);
}
