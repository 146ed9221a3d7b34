namespace Gateway.RateLimiting;

/// <summary>
/// A sliding-window counter over 60 buckets per window. A request counts until its whole bucket has
/// left the window, so the limit is never exceeded and a permit comes back at most one bucket
/// (window/60) late. The total is kept as buckets expire, so a decision costs O(1), not a scan.
/// Not thread-safe: callers hold the window's lock (<c>lock (window)</c>).
/// </summary>
/// <remarks>
/// Most windows are client IPs that send one request, or a few close together: until a second bucket
/// has to count while the first still does, the counts live in two fields and no bucket array exists
/// (about 100 bytes per window instead of about 370), which is what keeps a million client IPs within
/// the gateway's memory budget.
/// </remarks>
internal sealed class SlidingWindow : OrderedGate
{
    public const int Buckets = 60;
    private const int Slots = Buckets + 1;

    private readonly long _bucketTicks;
    private int[]? _counts;
    private long _head = long.MinValue;
    private int _total;

    // Without _counts: the only bucket that counts (when _total > 0). With _counts: no bucket older
    // than this counts, so a scan for the oldest counted request starts here.
    private long _first;

    public SlidingWindow(int permitLimit, TimeSpan window)
    {
        PermitLimit = permitLimit;
        _bucketTicks = Math.Max(1, window.Ticks / Buckets);
    }

    public int PermitLimit { get; }

    /// <summary>What the window started from: the sketch's count of an address promoted out of it (set before the window is shared).</summary>
    public int Seeded { get; set; }

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
        if (_counts is not null)
        {
            _counts[Slot(current)] += permits;
            _first = Math.Min(_first, current); // a clock that stepped back charges an older bucket
        }
        else if (_total == 0 || _first == current)
        {
            _first = current;
        }
        else
        {
            // A second bucket counts while the first still does: from now on, one count per bucket.
            _counts = new int[Slots];
            _counts[Slot(_first)] = _total;
            _counts[Slot(current)] = permits;
        }

        _total += permits;
        LastCharged = nowTicks;
        return current;
    }

    /// <summary>Gives back permits charged to <paramref name="bucket"/>, unless that bucket has already left the window.</summary>
    public void Release(long bucket, int permits)
    {
        if (bucket <= _head - Slots || bucket > _head)
        {
            return;
        }

        if (_counts is not null)
        {
            var slot = Slot(bucket);
            var back = Math.Min(permits, _counts[slot]);
            _counts[slot] -= back;
            _total -= back;
        }
        else if (bucket == _first)
        {
            _total -= Math.Min(permits, _total);
        }
    }

    /// <summary>Until enough counted requests are released that <paramref name="needed"/> more fit (zero when nothing is counted).</summary>
    public TimeSpan ReleaseAfter(long nowTicks, int needed)
    {
        var current = BucketOf(nowTicks);
        Advance(current);
        if (_total < needed)
        {
            // Even when every counted request has left, fewer than `needed` are released.
            return TimeSpan.Zero;
        }

        if (_counts is null)
        {
            return Until(_first, nowTicks);
        }

        var released = 0;
        for (var id = Math.Max(current - Slots + 1, _first); id <= current; id++)
        {
            var count = _counts[Slot(id)];
            if (count == 0)
            {
                continue;
            }

            if (released == 0)
            {
                _first = id;
            }

            released += count;
            if (released >= needed)
            {
                return Until(id, nowTicks);
            }
        }

        return TimeSpan.Zero;
    }

    // Bucket `id` stops counting once the current bucket passes id + Buckets.
    private TimeSpan Until(long id, long nowTicks) => TimeSpan.FromTicks(((id + Slots) * _bucketTicks) - nowTicks);

    private void Advance(long current)
    {
        if (current <= _head)
        {
            return;
        }

        if (_counts is null)
        {
            if (_total > 0 && _first <= current - Slots)
            {
                _total = 0;
            }
        }
        else if (_head == long.MinValue || current - _head >= Slots)
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
