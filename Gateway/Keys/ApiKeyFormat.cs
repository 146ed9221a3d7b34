using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>What can be learned from a well-formed key string without asking the store.</summary>
internal readonly record struct ParsedApiKey(string Environment, string DisplayPrefix);

/// <summary>
/// The key wire format <c>{prefix}_{tag}_{random}{check}</c> (docs/keys.md): 32 random base62
/// characters and a 6-character base62 CRC32 of everything before the check. The checksum lets the
/// gateway drop typos and garbage before any store or cache work, and lets secret scanners verify hits.
/// </summary>
internal static class ApiKeyFormat
{
    public const int RandomLength = KeyRules.KeyRandomLength;
    public const int CheckLength = KeyRules.KeyCheckLength;
    public const int DisplayRandomLength = 6;
    private const int MaxPrefixLength = KeyRules.MaxKeyPrefixLength;
    private const int MaxTagLength = 5;

    /// <summary>Longest possible key; anything longer is rejected before any parsing work.</summary>
    public const int MaxLength = MaxPrefixLength + 1 + MaxTagLength + 1 + RandomLength + CheckLength;

    [ThreadStatic]
    private static IncrementalHash? t_sha256;

    public static string Generate(string keyPrefix, string environment)
    {
        var body = $"{keyPrefix}_{KeyEnvironments.ToTag(environment)}_{Base62.Random(RandomLength)}";
        Span<char> check = stackalloc char[CheckLength];
        Base62.EncodeFixed(Checksum(body), check);
        return string.Concat(body, check);
    }

    public static bool TryParse(ReadOnlySpan<char> key, out ParsedApiKey parsed)
    {
        if (!TryReadEnvironment(key, out var environment))
        {
            parsed = default;
            return false;
        }

        parsed = new ParsedApiKey(environment, DisplayPrefix(key));
        return true;
    }

    /// <summary>Whether the key is well formed with a valid checksum; allocates nothing (the request path's check).</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> key) => TryReadEnvironment(key, out _);

    private static bool TryReadEnvironment(ReadOnlySpan<char> key, out string environment)
    {
        environment = "";
        if (key.Length > MaxLength)
        {
            return false;
        }

        var first = key.IndexOf('_');
        if (first < KeyRules.MinKeyPrefixLength || first > MaxPrefixLength || !KeyRules.IsValidKeyPrefix(key[..first]))
        {
            return false;
        }

        var rest = key[(first + 1)..];
        var second = rest.IndexOf('_');
        if (second < 0)
        {
            return false;
        }

        var tagged = KeyEnvironments.FromTag(rest[..second]);
        var tail = rest[(second + 1)..];
        if (tagged is null || tail.Length != RandomLength + CheckLength)
        {
            return false;
        }

        foreach (var c in tail)
        {
            if (!Base62.IsBase62(c))
            {
                return false;
            }
        }

        var bodyLength = key.Length - CheckLength;
        Span<char> expected = stackalloc char[CheckLength];
        Base62.EncodeFixed(Checksum(key[..bodyLength]), expected);
        if (!expected.SequenceEqual(key[bodyLength..]))
        {
            return false;
        }

        environment = tagged;
        return true;
    }

    /// <summary>The key up to and including the first six random characters, e.g. <c>gw_live_a1B2c3</c>.</summary>
    public static string DisplayPrefix(ReadOnlySpan<char> key) =>
        key[..(key.Length - CheckLength - RandomLength + DisplayRandomLength)].ToString();

    /// <summary>Lower-case hex SHA-256 of the key: the only form in which a key is ever stored.</summary>
    public static string Hash(ReadOnlySpan<char> key) => Digest(key).ToHex();

    /// <summary>SHA-256 of the key, as the key cache is keyed.</summary>
    public static KeyDigest Digest(ReadOnlySpan<char> key)
    {
        Span<byte> ascii = stackalloc byte[MaxLength];
        var count = Encoding.ASCII.GetBytes(key, ascii);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];

        // A reused hash object per thread: the one-shot SHA256.HashData creates and frees an OpenSSL
        // digest context on every call, which costs about as much as hashing a key.
        var sha256 = t_sha256 ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha256.AppendData(ascii[..count]);
        sha256.GetHashAndReset(digest);
        return KeyDigest.FromBytes(digest);
    }

    private static uint Checksum(ReadOnlySpan<char> body)
    {
        Span<byte> ascii = stackalloc byte[MaxLength];
        var count = Encoding.ASCII.GetBytes(body, ascii);
        return Crc32.HashToUInt32(ascii[..count]);
    }
}
