using System.Buffers.Binary;

namespace Gateway.Http;

/// <summary>
/// Request ids in the UUIDv7 layout (48-bit Unix milliseconds, then random bits), as 32 lowercase hex
/// digits, so ids sort by time across instances. <see cref="Guid.CreateVersion7()"/> draws its random
/// bits from the operating system on every call (a read of /dev/urandom per request on Linux); an id
/// only has to be unique, not secret, so the bits come from <see cref="Random.Shared"/>, which is
/// seeded per thread from the operating system and never makes a system call afterwards.
/// </summary>
internal static class RequestIds
{
    public static string New() => New(DateTimeOffset.UtcNow);

    public static string New(DateTimeOffset now)
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        var unixMs = (ulong)now.ToUnixTimeMilliseconds();

        // Bytes 0-5: timestamp; byte 6: version 7 in the high nibble; byte 8: variant 0b10 in the top bits.
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)(unixMs >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(bytes[2..], (uint)unixMs);
        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F));
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
        return Convert.ToHexStringLower(bytes);
    }
}
