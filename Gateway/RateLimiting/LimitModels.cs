using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;

namespace Gateway.RateLimiting;

internal enum LimitKind : byte
{
    Ip,
    Workspace,
    Route,
    Key,
}

internal static class LimitKinds
{
    // Interned names: problem bodies and metric labels never build a string per request.
    public static string Name(LimitKind kind) => kind switch
    {
        LimitKind.Ip => "ip",
        LimitKind.Workspace => "workspace",
        LimitKind.Route => "route",
        _ => "key",
    };
}

/// <summary>
/// One limit that applies to a request: whose partition and how many per window. A value type made of
/// strings the request already holds (org id, key id, policy name) and the client's address group, so
/// naming a partition allocates nothing; the limit and window are part of the identity, so a changed
/// setting takes effect on the next request with a fresh count.
/// </summary>
internal readonly record struct LimitSpec(LimitKind Kind, string? Owner, string? Name, UInt128 Address, int PermitLimit, TimeSpan Window)
{
    public static LimitSpec ForIp(UInt128 group, int permitLimit, TimeSpan window) => new(LimitKind.Ip, null, null, group, permitLimit, window);

    public static LimitSpec ForWorkspace(string orgId, int permitLimit, TimeSpan window) => new(LimitKind.Workspace, orgId, null, default, permitLimit, window);

    public static LimitSpec ForRoute(string policy, string orgId, int permitLimit, TimeSpan window) => new(LimitKind.Route, orgId, policy, default, permitLimit, window);

    public static LimitSpec ForKey(string keyId, int permitLimit, TimeSpan window) => new(LimitKind.Key, null, keyId, default, permitLimit, window);

    public string KindName => LimitKinds.Name(Kind);

    /// <summary>The partition as text, for store keys; built only when a store is asked, never per request.</summary>
    public string PartitionText() => Kind switch
    {
        LimitKind.Ip => "ip:" + IpGroups.Format(Address),
        LimitKind.Workspace => "ws:" + Owner,
        LimitKind.Route => $"route:{Name}:{Owner}",
        _ => "key:" + Name,
    };
}

/// <summary>
/// A limit's state after a decision: whether it had a permit, permits left, and when the oldest counted
/// request leaves the window. <see cref="Holder"/> and <see cref="Ticket"/> let the counter that charged
/// the permit give it back.
/// </summary>
internal struct LimitState
{
    public bool Allowed;
    public int Remaining;
    public TimeSpan ResetAfter;
    public object? Holder;
    public long Ticket;
}

[InlineArray(Capacity)]
internal struct LimitSpecBuffer
{
    // The most a request has: the IP limit, the route policy or the workspace limit, and the key's own.
    // Every slot is allocated with each request's feature, so there is no spare one.
    public const int Capacity = 3;
    private LimitSpec _element;
}

[InlineArray(LimitSpecBuffer.Capacity)]
internal struct LimitStateBuffer
{
    private LimitState _element;
}

/// <summary>
/// The limits of one request and their states, held inline so that a decision allocates nothing.
/// Positions are named by <see cref="LimitSlot"/>: the IP limit first, then the request stage's limits.
/// </summary>
internal class LimitBatch
{
    internal LimitSpecBuffer Specs;
    internal LimitStateBuffer States;

    public int Count { get; set; }

    /// <summary>
    /// The IP limit could not be decided without a store trip, so it is charged with the request's other
    /// limits in one trip (or, if the request never gets there, in the background).
    /// </summary>
    public bool IpDeferred { get; set; }

    /// <summary>The per-instance permit that guards a deferred IP limit, so floods stay bounded meanwhile.</summary>
    public LimitState Guard;

    public ref LimitSpec Spec(int index) => ref Specs[index];

    public ref LimitState State(int index) => ref States[index];

    public void Add(in LimitSpec spec)
    {
        Specs[Count] = spec;
        States[Count] = default;
        Count++;
    }

    /// <summary>Empties the batch for another request.</summary>
    protected void Clear()
    {
        // The states hold the windows that were charged; drop them so a reused batch keeps nothing alive.
        ((Span<LimitState>)States)[..Count].Clear();
        Count = 0;
        IpDeferred = false;
        Guard = default;
    }
}

internal enum IpDecision : byte
{
    Allowed,
    Refused,

    /// <summary>Let in under a per-instance guard; the shared IP limit is charged with the request's other limits.</summary>
    Deferred,
}

/// <summary>Counts requests against limits.</summary>
internal interface IRateLimitCounter
{
    /// <summary>
    /// False when no call keeps a reference to its batch once it has returned (or its task has completed),
    /// so a batch may be reused for the next request.
    /// </summary>
    bool HoldsBatches { get; }

    /// <summary>Takes a permit of the IP limit (<paramref name="batch"/>[<see cref="LimitSlot.Ip"/>]) without waiting for a store.</summary>
    IpDecision AcquireIp(LimitBatch batch);

    /// <summary>Charges a deferred IP limit of a request that never reached the request stage (refused by authentication, aborted).</summary>
    void SettleDeferredIp(LimitBatch batch);

    /// <summary>
    /// Takes one permit of every limit in <paramref name="batch"/>[<paramref name="from"/>..Count], or none,
    /// and fills their states. Completes synchronously whenever no store has to be asked.
    /// </summary>
    ValueTask<bool> AcquireAsync(LimitBatch batch, int from, CancellationToken cancellationToken);

    /// <summary>Gives back the permits an allowed decision took for <paramref name="batch"/>[<paramref name="from"/>..<paramref name="to"/>).</summary>
    void Release(LimitBatch batch, int from, int to);
}

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
