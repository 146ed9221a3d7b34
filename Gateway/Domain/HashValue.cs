using System.Buffers;
using System.Buffers.Binary;

namespace Gateway.Domain;

/// <summary>A SHA-256 value as four machine words, read from the lower- or upper-case hex a record stores.</summary>
internal readonly record struct HashValue(ulong A, ulong B, ulong C, ulong D)
{
    public const int Bytes = 32;

    /// <summary>The value of the first 32 bytes of <paramref name="bytes"/>, read big-endian.</summary>
    public static HashValue FromBytes(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadUInt64BigEndian(bytes),
        BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));

    /// <summary>Null for anything that is not 64 hex digits.</summary>
    public static HashValue? ParseHex(ReadOnlySpan<char> hex)
    {
        Span<byte> bytes = stackalloc byte[Bytes];
        if (hex.Length != Bytes * 2
            || Convert.FromHexString(hex, bytes, out _, out var written) != OperationStatus.Done
            || written != Bytes)
        {
            return null;
        }

        return FromBytes(bytes);
    }

    /// <summary>
    /// The lower-case hex SHA-256 of <paramref name="text"/>'s UTF-8 bytes: how a secret (an operator token, a reported
    /// key, a session's CSRF token) is stored and compared without the store ever holding the secret.
    /// </summary>
    public static string HexOf(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));

    /// <summary>The lower-case hex form, as stores keep it.</summary>
    public string ToHex()
    {
        Span<byte> bytes = stackalloc byte[Bytes];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, A);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[24..], D);
        return Convert.ToHexStringLower(bytes);
    }
}
