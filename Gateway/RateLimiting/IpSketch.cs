using System.Security.Cryptography;

namespace Gateway.RateLimiting;

/// <summary>
/// Counts client addresses that do not fit the exact set, in memory fixed at start: a count-min sketch
/// with conservative update, one per time slice. A window is <see cref="Slices"/> slices; an address's
/// count is the sum, over the slices of the window plus the current one, of its smallest cell in each.
/// Every cell is at least the count of every address that hashes to it, so the estimate is never below
/// the true count: collisions and the slice granularity can only refuse early (a permit comes back up to
/// one slice late, like the exact window's bucket), never admit an address over its limit.
/// </summary>
/// <remarks>
/// The hot path allocates nothing and holds one of <see cref="Stripes"/> locks only while it reads and
/// raises its cells, so one address's check and charge are atomic while different addresses run in
/// parallel (their shared cells only ever grow, through compare-and-swap). The slice after the current
/// one is cleared ahead of time, by the first request that finds it stale, without anyone waiting.
/// Counters are 16 bits and saturate: a saturated cell reads as "at least 65535", still an over-estimate.
/// </remarks>
internal sealed class IpSketch
{
    public const int Slices = 4;
    public const int Depth = 4;

    // The window's slices, the current one, and the next, being cleared.
    private const int Slots = Slices + 2;
    private const int Stripes = 1024;
    private const int BytesPerCell = sizeof(ushort);

    private readonly ushort[][] _cells = new ushort[Slots][];
    private readonly long[] _sliceIds = new long[Slots];
    private readonly Lock[] _stripes = new Lock[Stripes];
    private readonly Lock _rotate = new();
    private readonly ulong _seed0;
    private readonly ulong _seed1;
    private readonly long _sliceTicks;

    public IpSketch(long memoryBytes, TimeSpan window)
    {
        Width = WidthFor(memoryBytes);
        Window = window;
        _sliceTicks = Math.Max(1, window.Ticks / Slices);
        for (var i = 0; i < Slots; i++)
        {
            _cells[i] = new ushort[Width * Depth];
            _sliceIds[i] = long.MinValue;
        }

        for (var i = 0; i < Stripes; i++)
        {
            _stripes[i] = new Lock();
        }

        // A key per process: which addresses collide cannot be worked out from outside.
        Span<byte> seed = stackalloc byte[16];
        RandomNumberGenerator.Fill(seed);
        _seed0 = BitConverter.ToUInt64(seed);
        _seed1 = BitConverter.ToUInt64(seed[8..]);
    }

    /// <summary>Cells per row.</summary>
    public int Width { get; }

    public TimeSpan Window { get; }

    /// <summary>Bytes the cells take (what the memory setting bounds).</summary>
    public long Bytes => (long)Slots * Depth * Width * BytesPerCell;

    /// <summary>The widest rows that fit <paramref name="memoryBytes"/>.</summary>
    public static int WidthFor(long memoryBytes) => (int)Math.Clamp(memoryBytes / ((long)Slots * Depth * BytesPerCell), 64, int.MaxValue / Depth);

    /// <summary>
    /// Takes one permit of <paramref name="address"/>'s limit if its estimate is below <paramref name="limit"/>,
    /// and fills <paramref name="state"/> as the exact window would.
    /// </summary>
    public bool TryAcquire(UInt128 address, int limit, long nowTicks, ref LimitState state)
    {
        var slice = nowTicks / _sliceTicks;
        var current = Current(slice);
        Span<int> cells = stackalloc int[Depth];
        var stripe = Cells(address, cells);
        lock (_stripes[stripe])
        {
            var older = Older(slice, cells, out var oldest);
            var mine = Min(current, cells);
            var used = older + mine;
            if (oldest == long.MaxValue && mine > 0)
            {
                oldest = slice;
            }

            if (used >= limit)
            {
                state.Allowed = false;
                state.Remaining = 0;
                state.ResetAfter = Until(oldest, nowTicks);
                return false;
            }

            var raised = (ushort)Math.Min(ushort.MaxValue, mine + 1);
            for (var row = 0; row < Depth; row++)
            {
                ref var cell = ref current[cells[row]];
                ushort seen;
                while ((seen = Volatile.Read(ref cell)) < raised && Interlocked.CompareExchange(ref cell, raised, seen) != seen)
                {
                }
            }

            state.Allowed = true;
            state.Remaining = Math.Max(0, limit - used - 1);
            state.ResetAfter = Until(Math.Min(oldest, slice), nowTicks);
            return true;
        }
    }

    /// <summary>The estimate of <paramref name="address"/>'s count now, never below the true one.</summary>
    public int Estimate(UInt128 address, long nowTicks)
    {
        var slice = nowTicks / _sliceTicks;
        var current = Current(slice);
        Span<int> cells = stackalloc int[Depth];
        var stripe = Cells(address, cells);
        lock (_stripes[stripe])
        {
            return Older(slice, cells, out _) + Min(current, cells);
        }
    }

    private int Older(long slice, ReadOnlySpan<int> cells, out long oldest)
    {
        oldest = long.MaxValue;
        var sum = 0;
        for (var back = Slices; back >= 1; back--)
        {
            var id = slice - back;
            var slot = Slot(id);
            if (Volatile.Read(ref _sliceIds[slot]) != id)
            {
                continue; // nothing was counted in that slice (or it was before this sketch existed)
            }

            var min = Min(_cells[slot], cells);
            if (min > 0 && oldest == long.MaxValue)
            {
                oldest = id;
            }

            sum += min;
        }

        return sum;
    }

    private static int Min(ushort[] slice, ReadOnlySpan<int> cells)
    {
        int min = ushort.MaxValue;
        for (var row = 0; row < Depth; row++)
        {
            min = Math.Min(min, Volatile.Read(ref slice[cells[row]]));
        }

        return min;
    }

    /// <summary>The cells of the current slice, making them ready if no request has yet in this slice.</summary>
    private ushort[] Current(long slice)
    {
        var slot = Slot(slice);
        if (Volatile.Read(ref _sliceIds[slot]) != slice)
        {
            // Only after an idle slice: the one before did not prepare this one. Clearing takes about a millisecond.
            lock (_rotate)
            {
                Prepare(slot, slice);
            }
        }

        var next = Slot(slice + 1);
        if (Volatile.Read(ref _sliceIds[next]) != slice + 1 && _rotate.TryEnter())
        {
            try
            {
                Prepare(next, slice + 1);
            }
            finally
            {
                _rotate.Exit();
            }
        }

        return _cells[slot];
    }

    private void Prepare(int slot, long slice)
    {
        var id = Volatile.Read(ref _sliceIds[slot]);
        if (id >= slice)
        {
            return;
        }

        // Out of every window by now: slot holds slice - Slots or older, and a window reads Slices + 1 slices.
        Volatile.Write(ref _sliceIds[slot], long.MinValue);
        Array.Clear(_cells[slot]);
        Volatile.Write(ref _sliceIds[slot], slice);
    }

    private int Cells(UInt128 address, Span<int> cells)
    {
        var h1 = Mix(((ulong)address ^ _seed0) + Mix((ulong)(address >> 64) ^ _seed1));
        var h2 = Mix(h1 ^ _seed1) | 1;
        for (var row = 0; row < Depth; row++)
        {
            var h = h1 + ((ulong)row * h2);
            cells[row] = (row * Width) + (int)(((h >> 32) * (ulong)Width) >> 32);
        }

        return (int)(h1 & (Stripes - 1));
    }

    private static ulong Mix(ulong x)
    {
        // splitmix64's finalizer.
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    // Slice `id` stops counting once the current slice passes id + Slices.
    private TimeSpan Until(long id, long nowTicks) =>
        id == long.MaxValue ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Max(1, ((id + Slices + 1) * _sliceTicks) - nowTicks));

    private static int Slot(long slice) => (int)(((slice % Slots) + Slots) % Slots);
}
