using System.Security.Cryptography;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>
/// The SHA-256 of a key as four machine words: what the in-process key cache is keyed on, so a lookup
/// neither formats nor hashes a 64-character string. Stores keep the lower-case hex form (<see cref="ToHex"/>).
/// </summary>
internal readonly struct KeyDigest : IEquatable<KeyDigest>
{
    private KeyDigest(HashValue value) => Value = value;

    /// <summary>The four words, as the domain's records keep their stored hashes parsed.</summary>
    public HashValue Value { get; }

    public static KeyDigest FromBytes(ReadOnlySpan<byte> sha256) => new(HashValue.FromBytes(sha256[..SHA256.HashSizeInBytes]));

    /// <summary>Reads the hex form; false for anything that is not 64 hex digits.</summary>
    public static bool TryParseHex(ReadOnlySpan<char> hex, out KeyDigest digest)
    {
        if (HashValue.ParseHex(hex) is { } value)
        {
            digest = new KeyDigest(value);
            return true;
        }

        digest = default;
        return false;
    }

    /// <summary>Whether <paramref name="hex"/> is the hex form of this digest (in any letter case).</summary>
    public bool Matches(string? hex) => hex is not null && TryParseHex(hex, out var other) && Equals(other);

    public string ToHex() => Value.ToHex();

    public bool Equals(KeyDigest other) => Value == other.Value;

    public override bool Equals(object? obj) => obj is KeyDigest other && Equals(other);

    // HashCode is seeded per process: anyone can choose keys whose digests share bits, nobody can predict buckets.
    public override int GetHashCode() => HashCode.Combine(Value.A, Value.B);

    public override string ToString() => ToHex();

    public static bool operator ==(KeyDigest left, KeyDigest right) => left.Equals(right);

    public static bool operator !=(KeyDigest left, KeyDigest right) => !left.Equals(right);
}
