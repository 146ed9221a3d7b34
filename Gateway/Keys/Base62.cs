using System.Security.Cryptography;

namespace Gateway.Keys;

internal static class Base62
{
    public const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>Uniformly random base62 characters from the OS CSPRNG (no modulo bias).</summary>
    public static string Random(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    public static bool IsBase62(char c) => c is (>= '0' and <= '9') or (>= 'A' and <= 'Z') or (>= 'a' and <= 'z');

    /// <summary>Writes <paramref name="value"/> as exactly <paramref name="destination"/>.Length digits, zero-padded.</summary>
    public static void EncodeFixed(ulong value, Span<char> destination)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }
    }
}
