using System.Threading.RateLimiting;

namespace Gateway.RateLimiting;

/// <summary>
/// A sliding-window <see cref="RateLimiter"/> over 60 buckets per window, driven by a <see cref="TimeProvider"/>.
/// Unlike the built-in <see cref="SlidingWindowRateLimiter"/> it reports, on every lease, the permits left
/// and when the oldest counted request leaves the window: the gateway needs both for the
/// X-RateLimit-* headers and an exact Retry-After, and needs a zero-permit peek to charge several limits
/// all together or not at all. A request counts until its whole bucket has left the window, so the
/// limit is never exceeded; it is released at most one bucket (window/60) late.
/// </summary>
internal sealed class SlidingWindowCounterLimiter : RateLimiter
{
    private const int Buckets = 60;

    private readonly int _permitLimit;
    private readonly long _bucketTicks;
    private readonly TimeProvider _time;
    private readonly long[] _ids = new long[Buckets + 1];
    private readonly int[] _counts = new int[Buckets + 1];
    private readonly Lock _lock = new();
    private long _lastActivity;

    public SlidingWindowCounterLimiter(int permitLimit, TimeSpan window, TimeProvider time)
    {
        _permitLimit = permitLimit;
        _bucketTicks = Math.Max(1, window.Ticks / Buckets);
        _time = time;
        _lastActivity = time.GetUtcNow().UtcTicks;
        Array.Fill(_ids, long.MinValue);
    }

    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                var now = _time.GetUtcNow().UtcTicks;
                return Count(now / _bucketTicks) == 0 ? TimeSpan.FromTicks(now - _lastActivity) : null;
            }
        }
    }

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow().UtcTicks;
            return new RateLimiterStatistics { CurrentAvailablePermits = Math.Max(0, _permitLimit - Count(now / _bucketTicks)) };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        lock (_lock)
        {
            var nowTicks = _time.GetUtcNow().UtcTicks;
            var current = nowTicks / _bucketTicks;
            var used = Count(current);
            if (used + permitCount > _permitLimit || permitCount > _permitLimit)
            {
                return new WindowLease(false, Math.Max(0, _permitLimit - used), ResetAfter(current, nowTicks), RetryAfter(current, nowTicks, used + permitCount - _permitLimit));
            }

            if (permitCount > 0)
            {
                var slot = (int)(current % _ids.Length);
                if (_ids[slot] != current)
                {
                    _ids[slot] = current;
                    _counts[slot] = 0;
                }

                _counts[slot] += permitCount;
                used += permitCount;
                _lastActivity = nowTicks;
            }

            return new WindowLease(true, _permitLimit - used, ResetAfter(current, nowTicks), TimeSpan.Zero);
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        new(AttemptAcquireCore(permitCount));

    /// <summary>Requests in buckets [current - Buckets, current]: the window plus the bucket it straddles.</summary>
    private int Count(long current)
    {
        var total = 0;
        for (var i = 0; i < _ids.Length; i++)
        {
            if (_ids[i] > current - _ids.Length && _ids[i] <= current)
            {
                total += _counts[i];
            }
        }

        return total;
    }

    /// <summary>Until the oldest counted request is released (zero when nothing is counted).</summary>
    private TimeSpan ResetAfter(long current, long nowTicks) => ReleaseAfter(current, nowTicks, 1);

    /// <summary>Until enough counted requests are released that <paramref name="excess"/> more permits fit.</summary>
    private TimeSpan RetryAfter(long current, long nowTicks, int excess) => ReleaseAfter(current, nowTicks, Math.Max(1, excess));

    private TimeSpan ReleaseAfter(long current, long nowTicks, int needed)
    {
        var released = 0;
        for (var id = current - _ids.Length + 1; id <= current; id++)
        {
            var slot = (int)(((id % _ids.Length) + _ids.Length) % _ids.Length);
            if (_ids[slot] != id || _counts[slot] == 0)
            {
                continue;
            }

            released += _counts[slot];
            if (released >= needed)
            {
                // Bucket `id` stops counting once `current` passes id + Buckets.
                return TimeSpan.FromTicks(((id + _ids.Length) * _bucketTicks) - nowTicks);
            }
        }

        return TimeSpan.Zero;
    }

    private sealed class WindowLease(bool acquired, int remaining, TimeSpan resetAfter, TimeSpan retryAfter) : RateLimitLease
    {
        public override bool IsAcquired { get; } = acquired;

        public int Remaining { get; } = remaining;

        public TimeSpan ResetAfter { get; } = resetAfter;

        public override IEnumerable<string> MetadataNames => IsAcquired ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = !IsAcquired && metadataName == MetadataName.RetryAfter.Name ? retryAfter : null;
            return metadata is not null;
        }
    }

    /// <summary>Permits left and reset time of a lease this limiter issued.</summary>
    public static (int Remaining, TimeSpan ResetAfter, TimeSpan RetryAfter) Read(RateLimitLease lease) =>
        lease is WindowLease w
            ? (w.Remaining, w.ResetAfter, lease.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? retry : TimeSpan.Zero)
            : (0, TimeSpan.Zero, TimeSpan.Zero);
}
