using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>A validated request to create a key.</summary>
internal sealed record KeyDraft(
    string Name,
    string Environment,
    IReadOnlyList<string> Scopes,
    string? Description,
    DateTimeOffset? ExpiresAt,
    string? CreatedBy,
    string? CustomerId,
    KeyRateLimit? RateLimit,
    IReadOnlyList<string>? AllowedCidrs = null,
    CreditsDraft? Credits = null);

/// <summary>Credits as an operator sends them: the balance now and an optional refill.</summary>
internal sealed record CreditsDraft(long Remaining, CreditRefill? Refill);

/// <summary>A validated PATCH: each field is applied only when its <c>Has…</c> flag is set; null clears it.</summary>
internal sealed record KeyPatch
{
    public string? Name { get; init; }
    public bool HasDescription { get; init; }
    public string? Description { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public bool HasExpiresAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public bool HasCustomerId { get; init; }
    public string? CustomerId { get; init; }
    public bool HasRateLimit { get; init; }
    public KeyRateLimit? RateLimit { get; init; }
    public bool HasAllowedCidrs { get; init; }
    public IReadOnlyList<string>? AllowedCidrs { get; init; }
    public bool HasCredits { get; init; }
    public CreditsDraft? Credits { get; init; }
}

/// <summary>A key as returned to whoever created or rotated it: the only time the plaintext exists.</summary>
internal sealed record IssuedKey(ApiKeyRecord Record, string Plaintext);

/// <summary>A lifecycle call that the key's state does not allow, or a missing key or org.</summary>
internal sealed class KeyOperationException(KeyOperationError error, string message, string? field = null) : Exception(message)
{
    public KeyOperationError Error { get; } = error;

    public string? Field { get; } = field;
}

internal enum KeyOperationError
{
    NotFound,
    Conflict,
    Invalid,
}
