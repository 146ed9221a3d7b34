using System.Net;

namespace Gateway.Http;

/// <summary>Client addresses as 128-bit values; IPv6 clients are grouped by a prefix, IPv4 ones stand alone.</summary>
internal static class IpGroups
{
    private static readonly UInt128 V4Mapped = (UInt128)0xFFFF << 32;

    public static UInt128 Group(IPAddress address, int ipv6PrefixLength)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return V4Mapped | System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
        }

        if (!address.TryWriteBytes(bytes, out var written) || written != 16)
        {
            return UInt128.Zero;
        }

        var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes);
        var prefix = Math.Clamp(ipv6PrefixLength, 1, 128);
        return prefix == 128 ? value : value & ~(UInt128.MaxValue >> prefix);
    }

    public static string Format(UInt128 group)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(bytes, group);
        return group >> 32 == 0xFFFF ? new IPAddress(bytes[12..]).ToString() : new IPAddress(bytes).ToString();
    }
}
