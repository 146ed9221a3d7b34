namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The sliding window as it was before it kept a lone bucket inline: one int per bucket, allocated up
/// front. The oracle of <see cref="SlidingWindowOracleTests"/>.
/// </summary>
internal sealed class ReferenceSlidingWindow
{
    private const int Buckets = 60;
    private const int Slots = Buckets + 1;

    private readonly int[] _counts = new int[Slots];
    private readonly long _bucketTicks;
    private long _head = long.MinValue;
    private int _total;

    public ReferenceSlidingWindow(int permitLimit, TimeSpan window)
    {
        PermitLimit = permitLimit;
        _bucketTicks = Math.Max(1, window.Ticks / Buckets);
    }

    public int PermitLimit { get; }


    public long LastCharged { get; private set; }

    public long BucketOf(long nowTicks) => nowTicks / _bucketTicks;

    /// <summary>Permits counted at <paramref name="nowTicks"/>.</summary>
    public int Used(long nowTicks)
    {
        Advance(BucketOf(nowTicks));
        return _total;
    }

    /// <summary>Charges <paramref name="permits"/> to the current bucket; returns the bucket (the ticket to give them back).</summary>
    public long Charge(long nowTicks, int permits)
    {
        var current = BucketOf(nowTicks);
        Advance(current);
        _counts[Slot(current)] += permits;
        _total += permits;
        LastCharged = nowTicks;
        return current;
    }

    /// <summary>Gives back permits charged to <paramref name="bucket"/>, unless that bucket has already left the window.</summary>
    public void Release(long bucket, int permits)
    {
        if (bucket > _head - Slots && bucket <= _head)
        {
            var slot = Slot(bucket);
            var back = Math.Min(permits, _counts[slot]);
            _counts[slot] -= back;
            _total -= back;
        }
    }

    /// <summary>Until enough counted requests are released that <paramref name="needed"/> more fit (zero when nothing is counted).</summary>
    public TimeSpan ReleaseAfter(long nowTicks, int needed)
    {
        var current = BucketOf(nowTicks);
        Advance(current);
        var released = 0;
        for (var id = current - Slots + 1; id <= current; id++)
        {
            var count = _counts[Slot(id)];
            if (count == 0)
            {
                continue;
            }

            released += count;
            if (released >= needed)
            {
                // Bucket `id` stops counting once the current bucket passes id + Buckets.
                return TimeSpan.FromTicks(((id + Slots) * _bucketTicks) - nowTicks);
            }
        }

        return TimeSpan.Zero;
    }

    private void Advance(long current)
    {
        if (current <= _head)
        {
            return;
        }

        if (_head == long.MinValue || current - _head >= Slots)
        {
            Array.Clear(_counts);
            _total = 0;
        }
        else
        {
            for (var id = _head + 1; id <= current; id++)
            {
                var slot = Slot(id);
                _total -= _counts[slot];
                _counts[slot] = 0;
            }
        }

        _head = current;
    }

    private static int Slot(long bucket) => (int)(((bucket % Slots) + Slots) % Slots);
}
