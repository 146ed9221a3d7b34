using System.Collections.Concurrent;

namespace Gateway.RateLimiting;

/// <summary>
/// Per-instance limits: one <see cref="SlidingWindow"/> per partition. A decision locks only the windows
/// of its own limits (in a fixed order, so two requests sharing windows cannot deadlock), checks them all
/// and charges them all or none; requests of different partitions never wait for each other.
/// Memory is bounded: windows that count nothing are dropped (a fresh one behaves the same), and past
/// <see cref="MaxPartitions"/> new client IPs share a fixed set of overflow partitions, which can only
/// be stricter than a partition of their own, never looser.
/// </summary>
internal sealed class LocalRateLimitCounter : IRateLimitCounter
{
    public const int DefaultMaxPartitions = 100_000;
    private const int OverflowGroups = 4096;
    private const string Overflow = "overflow";
    private const long SweepEveryMs = 10_000;

    private readonly ConcurrentDictionary<LimitSpec, SlidingWindow> _windows = new();
    private readonly TimeProvider _time;
    private readonly Lock _sweepGate = new();
    private int _count;
    private long _nextSweepAt = Environment.TickCount64 + SweepEveryMs;
    private long _nextFullSweepAt;

    public LocalRateLimitCounter(TimeProvider time, int maxPartitions = DefaultMaxPartitions)
    {
        _time = time;
        MaxPartitions = maxPartitions;
    }

    public int MaxPartitions { get; }

    /// <summary>Partitions held right now (for tests and the bench).</summary>
    public int PartitionCount => Volatile.Read(ref _count);

    /// <summary>Every call decides synchronously and keeps only the windows, never the batch.</summary>
    public bool HoldsBatches => false;

    public IpDecision AcquireIp(LimitBatch batch) => TryAcquire(batch, 0, 1) ? IpDecision.Allowed : IpDecision.Refused;

    public void SettleDeferredIp(LimitBatch batch)
    {
        // Never deferred here: every decision is local.
    }

    public ValueTask<bool> AcquireAsync(LimitBatch batch, int from, CancellationToken cancellationToken) => new(TryAcquire(batch, from, batch.Count));

    /// <summary>Takes one permit of every limit in <paramref name="batch"/>[<paramref name="from"/>..<paramref name="to"/>), or none.</summary>
    public bool TryAcquire(LimitBatch batch, int from, int to)
    {
        var now = _time.GetUtcNow().UtcTicks;
        var count = to - from;
        Span<int> order = stackalloc int[LimitSpecBuffer.Capacity];
        while (true)
        {
            for (var i = 0; i < count; i++)
            {
                batch.State(from + i) = new LimitState { Holder = Window(in batch.Spec(from + i), now) };
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

    /// <summary>Gives back a permit this counter charged (nothing if the state holds none).</summary>
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

    private SlidingWindow Window(in LimitSpec spec, long now)
    {
        if (_windows.TryGetValue(spec, out var window))
        {
            return window;
        }

        var key = spec;
        if (spec.Kind == LimitKind.Ip && PartitionCount >= MaxPartitions && !Reclaim())
        {
            key = spec with { Owner = Overflow, Address = spec.Address % OverflowGroups };
            if (_windows.TryGetValue(key, out window))
            {
                return window;
            }
        }

        var created = new SlidingWindow(key.PermitLimit, key.Window);
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

            if (_windows.TryGetValue(key, out window))
            {
                return window;
            }
        }
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
}
