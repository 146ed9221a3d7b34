using System.Buffers.Binary;
using System.Security.Cryptography;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>
/// The SHA-256 of a key as four machine words: what the in-process key cache is keyed on, so a lookup
/// neither formats nor hashes a 64-character string. Stores keep the lower-case hex form (<see cref="ToHex"/>).
/// </summary>
internal readonly struct KeyDigest : IEquatable<KeyDigest>
{
    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    private KeyDigest(ReadOnlySpan<byte> bytes)
    {
        _a = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _b = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _c = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _d = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>The same four words as the domain's <see cref="HashValue"/>, which records keep parsed.</summary>
    public HashValue Value => new(_a, _b, _c, _d);

    private KeyDigest(HashValue value)
    {
        _a = value.A;
        _b = value.B;
        _c = value.C;
        _d = value.D;
    }

    public static KeyDigest FromBytes(ReadOnlySpan<byte> sha256) => new(sha256[..SHA256.HashSizeInBytes]);

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

    public string ToHex()
    {
        Span<byte> bytes = stackalloc byte[SHA256.HashSizeInBytes];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, _a);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[24..], _d);
        return Convert.ToHexStringLower(bytes);
    }

    public bool Equals(KeyDigest other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is KeyDigest other && Equals(other);

    // HashCode is seeded per process: anyone can choose keys whose digests share bits, nobody can predict buckets.
    public override int GetHashCode() => HashCode.Combine(_a, _b);

    public override string ToString() => ToHex();

    public static bool operator ==(KeyDigest left, KeyDigest right) => left.Equals(right);

    public static bool operator !=(KeyDigest left, KeyDigest right) => !left.Equals(right);
}
