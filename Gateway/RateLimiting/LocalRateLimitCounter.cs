using System.Collections.Concurrent;
using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>
/// Per-instance limits: one <see cref="SlidingWindow"/> per partition. A decision locks only the windows
/// of its own limits (in a fixed order, so two requests sharing windows cannot deadlock), checks them all
/// and charges them all or none; requests of different partitions never wait for each other.
/// Memory is bounded: windows that count nothing are dropped (a fresh one behaves the same), and past
/// <see cref="MaxPartitions"/> client IPs without a window of their own are counted in an
/// <see cref="IpSketch"/> of fixed size, which over-estimates only: it may refuse an address slightly
/// early, never admit one over its limit. An address whose estimate reaches half its limit is promoted
/// to an exact window of its own (seeded with the estimate) while a reserve of partitions has room, so
/// the noisy addresses of a flood are counted exactly.
/// </summary>
internal sealed partial class LocalRateLimitCounter : IRateLimitCounter
{
    public const int DefaultMaxPartitions = 100_000;
    public const int DefaultSketchMemoryMB = 32;
    private const long SweepEveryMs = 10_000;
    private const long LogOverflowEveryMs = 60_000;

    private readonly ConcurrentDictionary<LimitSpec, SlidingWindow> _windows = new();
    private readonly TimeProvider _time;
    private readonly Lock _sweepGate = new();
    private readonly Lock _sketchGate = new();
    private readonly long _sketchBytes;
    private readonly GatewayMetrics? _metrics;
    private readonly ILogger? _logger;
    private IpSketch? _sketch;
    private int _count;
    private long _approximate;
    private long _nextSweepAt = Environment.TickCount64 + SweepEveryMs;
    private long _nextFullSweepAt;
    private long _nextOverflowLogAt;

    public LocalRateLimitCounter(TimeProvider time, int maxPartitions = DefaultMaxPartitions, long sketchBytes = DefaultSketchMemoryMB * 1024L * 1024L, GatewayMetrics? metrics = null, ILogger? logger = null)
    {
        _time = time;
        MaxPartitions = maxPartitions;
        HeavyHitterReserve = Math.Max(16, maxPartitions / 8);
        _sketchBytes = sketchBytes;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>Client IPs counted exactly as they come; past this, new ones are counted in the sketch.</summary>
    public int MaxPartitions { get; }

    /// <summary>Further exact partitions kept for addresses promoted out of the sketch.</summary>
    public int HeavyHitterReserve { get; }

    /// <summary>IP decisions the sketch made (an estimate, not an exact count).</summary>
    public long ApproximateDecisions => Interlocked.Read(ref _approximate);

    /// <summary>The sketch, once the exact set has overflowed (for tests and the bench).</summary>
    internal IpSketch? Sketch => Volatile.Read(ref _sketch);

    /// <summary>Partitions held right now (for tests and the bench).</summary>
    public int PartitionCount => Volatile.Read(ref _count);

    /// <summary>Every call decides synchronously and keeps only the windows, never the batch.</summary>
    public bool HoldsBatches => false;

    public IpDecision AcquireIp(LimitBatch batch) => TryAcquire(batch, LimitSlot.Ip, LimitSlot.AfterIp) ? IpDecision.Allowed : IpDecision.Refused;

    public void SettleDeferredIp(LimitBatch batch)
    {
        // Never deferred here: every decision is local.
    }

    public ValueTask<bool> AcquireAsync(LimitBatch batch, int from, CancellationToken cancellationToken) => new(TryAcquire(batch, from, batch.Count));

    /// <summary>Takes one permit of every limit in <paramref name="batch"/>[<paramref name="from"/>..<paramref name="to"/>), or none.</summary>
    public bool TryAcquire(LimitBatch batch, int from, int to)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (batch.Spec(from).Kind == LimitKind.Ip && Window(in batch.Spec(from), now) is null)
        {
            // Past the exact set: judged by the sketch. A permit it gave is not given back (see Release).
            if (!Approximate(batch, from, now))
            {
                return false;
            }

            if (++from == to)
            {
                return true;
            }
        }

        var count = to - from;
        Span<int> order = stackalloc int[LimitSpecBuffer.Capacity];
        while (true)
        {
            for (var i = 0; i < count; i++)
            {
                batch.State(from + i) = new LimitState { Holder = Window(in batch.Spec(from + i), now) ?? Promote(in batch.Spec(from + i), now, 0) };
                order[i] = from + i;
            }

            if (!OrderedGate.TryEnterAll(batch, order[..count]))
            {
                continue;
            }

            try
            {
                return Decide(batch, from, count, now);
            }
            finally
            {
                OrderedGate.ExitAll(batch, order[..count]);
            }
        }
    }

    public void Release(LimitBatch batch, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            Release(ref batch.State(i));
        }
    }

    /// <summary>
    /// Gives back a permit this counter charged (nothing if the state holds none). A permit of the sketch is
    /// never given back: its cells are shared with other addresses, so taking one off could count one of
    /// them below its true count. Keeping it is only stricter.
    /// </summary>
    public static void Release(ref LimitState state)
    {
        if (state.Allowed && state.Holder is SlidingWindow window)
        {
            lock (window)
            {
                window.Release(state.Ticket, 1);
            }

            state.Holder = null;
        }
    }

    /// <summary>Drops every window that counts nothing; returns how many are left.</summary>
    public int Sweep()
    {
        var now = _time.GetUtcNow().UtcTicks;
        foreach (var (spec, window) in _windows)
        {
            lock (window)
            {
                if (window.Retired || window.Used(now) != 0)
                {
                    continue;
                }

                window.Retired = true;
            }

            if (_windows.TryRemove(new KeyValuePair<LimitSpec, SlidingWindow>(spec, window)))
            {
                Interlocked.Decrement(ref _count);
            }
        }

        return PartitionCount;
    }

    private static SlidingWindow Holder(LimitBatch batch, int index) => (SlidingWindow)batch.State(index).Holder!;

    private static bool Decide(LimitBatch batch, int from, int count, long now)
    {
        var allowed = true;
        for (var i = from; i < from + count; i++)
        {
            var window = Holder(batch, i);
            allowed &= window.Used(now) < window.PermitLimit;
        }

        for (var i = from; i < from + count; i++)
        {
            ref var state = ref batch.State(i);
            var window = (SlidingWindow)state.Holder!;
            var used = window.Used(now);
            if (allowed)
            {
                state.Ticket = window.Charge(now, 1);
                used++;
            }

            state.Allowed = used < window.PermitLimit || allowed;
            state.Remaining = Math.Max(0, window.PermitLimit - used);

            // A limit without a permit reports how long until one is back; the others when the oldest counted request leaves.
            state.ResetAfter = window.ReleaseAfter(now, allowed || used < window.PermitLimit ? 1 : used + 1 - window.PermitLimit);
        }

        return allowed;
    }

    /// <summary>The exact window of <paramref name="spec"/>, or null when it is an IP past the exact set (the sketch's).</summary>
    private SlidingWindow? Window(in LimitSpec spec, long now)
    {
        if (_windows.TryGetValue(spec, out var window))
        {
            return window;
        }

        if (spec.Kind == LimitKind.Ip && PartitionCount >= MaxPartitions && !Reclaim())
        {
            return null;
        }

        return Add(spec, now, Seed(in spec, now));
    }

    /// <summary>What an IP's new exact window starts from: the sketch's estimate, as it may have counted the address before.</summary>
    private int Seed(in LimitSpec spec, long now) =>
        spec.Kind == LimitKind.Ip && Volatile.Read(ref _sketch) is { } sketch && sketch.Window == spec.Window ? sketch.Estimate(spec.Address, now) : 0;

    /// <summary>An exact window for an address out of the sketch, counted from <paramref name="seed"/> (at least the sketch's estimate).</summary>
    private SlidingWindow Promote(in LimitSpec spec, long now, int seed) => Add(spec, now, Math.Max(seed, Seed(in spec, now)));

    private SlidingWindow Add(LimitSpec key, long now, int seed)
    {
        var created = new SlidingWindow(key.PermitLimit, key.Window);
        if (seed > 0)
        {
            created.Charge(now, seed);
            created.Seeded = seed;
        }

        while (true)
        {
            if (_windows.TryAdd(key, created))
            {
                Interlocked.Increment(ref _count);
                if (Environment.TickCount64 >= Volatile.Read(ref _nextSweepAt))
                {
                    Volatile.Write(ref _nextSweepAt, Environment.TickCount64 + SweepEveryMs);
                    Sweep();
                }

                return created;
            }

            if (_windows.TryGetValue(key, out var window))
            {
                return window;
            }
        }
    }

    /// <summary>Decides the IP limit at <paramref name="index"/> with the sketch; promotes the address once its estimate is half the limit.</summary>
    private bool Approximate(LimitBatch batch, int index, long now)
    {
        ref readonly var spec = ref batch.Spec(index);
        ref var state = ref batch.State(index);
        var sketch = SketchFor(spec.Window);
        state = new LimitState { Holder = sketch };
        var allowed = sketch.TryAcquire(spec.Address, spec.PermitLimit, now, ref state);
        Interlocked.Increment(ref _approximate);
        _metrics?.ApproximateIpDecision(allowed);

        var used = spec.PermitLimit - state.Remaining;
        if (used * 2 >= spec.PermitLimit && PartitionCount < MaxPartitions + HeavyHitterReserve)
        {
            // A heavy hitter: counted exactly from now on, from at least what the sketch has for it.
            Promote(in spec, now, allowed ? used : spec.PermitLimit);
        }

        return allowed;
    }

    private IpSketch SketchFor(TimeSpan window)
    {
        var sketch = Volatile.Read(ref _sketch);
        if (sketch is not null && sketch.Window == window)
        {
            return sketch;
        }

        lock (_sketchGate)
        {
            sketch = _sketch;
            if (sketch is null || sketch.Window != window)
            {
                // A changed window starts a fresh count, as a changed setting does for exact windows.
                sketch = new IpSketch(_sketchBytes, window);
                Volatile.Write(ref _sketch, sketch);
            }
        }

        var tick = Environment.TickCount64;
        var next = Volatile.Read(ref _nextOverflowLogAt);
        if (_logger is not null && tick >= next && Interlocked.CompareExchange(ref _nextOverflowLogAt, tick + LogOverflowEveryMs, next) == next)
        {
            Log.ExactSetFull(_logger, MaxPartitions, sketch.Bytes / (1024 * 1024));
        }

        return sketch;
    }

    /// <summary>At the cap: sweeps (at most once a second, so a flood at the cap does not sweep per request) and says whether room was made.</summary>
    private bool Reclaim()
    {
        var tick = Environment.TickCount64;
        if (tick >= Volatile.Read(ref _nextFullSweepAt) && _sweepGate.TryEnter())
        {
            try
            {
                Volatile.Write(ref _nextFullSweepAt, tick + 1000);
                Sweep();
            }
            finally
            {
                _sweepGate.Exit();
            }
        }

        return PartitionCount < MaxPartitions;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RateLimitIpExactSetFull, Level = LogLevel.Warning, Message = "The IP limit's exact set is full ({MaxPartitions} client addresses): new addresses are counted approximately in a {SketchMB} MB sketch, which may refuse them slightly early (logged at most once a minute).")]
        public static partial void ExactSetFull(ILogger logger, int maxPartitions, long sketchMB);
    }
}
