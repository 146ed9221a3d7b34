namespace Gateway.Domain;

/// <summary>
/// A stored key. Never holds key material: only the SHA-256 of the current plaintext and, during a
/// rotation grace period, of the previous one.
/// </summary>
public sealed record ApiKeyRecord
{
    private readonly IReadOnlyList<string> _scopes = [];
    private readonly string _scopesHeader = "";
    private readonly string _hash = "";
    private readonly string? _previousHash;

    // Parsed when the record is made, so that checking a request's key against the record does not decode
    // 64 hex digits per request. Derived from the hash strings, so equality between records is unchanged.
    private readonly HashValue? _hashValue;
    private readonly HashValue? _previousHashValue;

    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Name { get; init; }
    public required string Prefix { get; init; }
    public required string Hash
    {
        get => _hash;
        init
        {
            _hash = value;
            _hashValue = HashValue.ParseHex(value);
        }
    }

    public string? PreviousHash
    {
        get => _previousHash;
        init
        {
            _previousHash = value;
            _previousHashValue = value is null ? null : HashValue.ParseHex(value);
        }
    }

    public DateTimeOffset? PreviousHashExpiresAt { get; init; }
    public required string Environment { get; init; }
    public required IReadOnlyList<string> Scopes
    {
        get => _scopes;
        init
        {
            _scopes = value;
            _scopesHeader = string.Join(' ', value);
        }
    }
    public KeyState State { get; init; } = KeyState.Active;
    public bool IsDefault { get; init; }
    public string? Description { get; init; }
    public string? CreatedBy { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public string? CustomerId { get; init; }
    public KeyRateLimit? RateLimit { get; init; }

    /// <summary>Prepaid credits; null when the key is not metered by credits.</summary>
    public KeyCredits? Credits { get; init; }

    /// <summary>Canonical CIDRs the key may be used from; empty means any address.</summary>
    public IReadOnlyList<string> AllowedCidrs { get; init; } = [];

    /// <summary>Bumped on every write; updates are conditional on it so concurrent admin calls cannot lose each other's changes.</summary>
    public long Version { get; init; }

    /// <summary>The scopes as one space-separated value, joined when the record is made rather than per request.</summary>
    internal string ScopesHeader => _scopesHeader;

    /// <summary>Whether <paramref name="hash"/> is the key's current hash.</summary>
    internal bool HashIs(HashValue hash) => _hashValue == hash;

    /// <summary>Whether <paramref name="hash"/> is the hash of the key before its last rotation (whatever its grace period).</summary>
    internal bool PreviousHashIs(HashValue hash) => _previousHashValue == hash;

    public KeyStatus StatusAt(DateTimeOffset now) => State switch
    {
        KeyState.Revoked => KeyStatus.Revoked,
        KeyState.Inactive => KeyStatus.Inactive,
        _ when ExpiresAt is { } expires && expires <= now => KeyStatus.Expired,
        _ => KeyStatus.Active,
    };

    public bool HasScope(string scope)
    {
        foreach (var s in Scopes)
        {
            if (s == "*" || string.Equals(s, scope, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>What an operator set; <see cref="KeyStatus"/> adds time-derived expiry on top.</summary>
public enum KeyState
{
    Active,
    Inactive,
    Revoked,
}

public enum KeyStatus
{
    Active,
    Inactive,
    Expired,
    Revoked,
}

public sealed record KeyRateLimit(int PermitLimit, TimeSpan Window);
