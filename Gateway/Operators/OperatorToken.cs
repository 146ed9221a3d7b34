using Gateway.Admin;
using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Operators;

/// <summary>
/// A named admin token: its role, its organization (null: every organization) and the SHA-256 of its
/// plaintext, which is shown once when it is created and never stored.
/// </summary>
internal sealed record OperatorToken(
    string Id,
    string Name,
    AdminRole Role,
    string? Org,
    string Hash,
    string Prefix,
    string? CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? LastUsedAt,
    DateTimeOffset? RevokedAt)
{
    public string Status(DateTimeOffset now) =>
        RevokedAt is not null ? "revoked" : ExpiresAt is { } e && e <= now ? "expired" : "active";

    public bool IsUsable(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is not { } e || e > now);
}

/// <summary>The plaintext form, <c>gwa_</c> and 40 base62 characters from the OS CSPRNG, and its digest.</summary>
internal static class OperatorTokenFormat
{
    public const string Prefix = "gwa_";
    public const int RandomLength = 40;

    /// <summary>Characters of the plaintext kept to tell tokens apart in listings (prefix and 4 random characters).</summary>
    public const int DisplayLength = 8;

    public static string NewToken() => Prefix + Base62.Random(RandomLength);

    public static string NewId() => "tok_" + Base62.Random(16);

    public static bool IsWellFormed(string presented) =>
        presented.Length == Prefix.Length + RandomLength
        && presented.StartsWith(Prefix, StringComparison.Ordinal)
        && presented.AsSpan(Prefix.Length).IndexOfAnyExcept(Base62Chars) < 0;

    public static string Hash(string plaintext) => HashValue.HexOf(plaintext);

    private static readonly System.Buffers.SearchValues<char> Base62Chars = System.Buffers.SearchValues.Create(Base62.Alphabet);
}
