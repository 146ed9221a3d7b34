using System.Threading.RateLimiting;

namespace Gateway.RateLimiting;

/// <summary>
/// Per-instance limits: one <see cref="SlidingWindowCounterLimiter"/> per partition inside a
/// <see cref="PartitionedRateLimiter"/>, which disposes partitions idle for a while, so memory stays
/// bounded however many client IPs pass by. The partition key includes the limit and window, so a
/// changed setting takes effect on the next request (with a fresh count).
/// </summary>
internal sealed class LocalRateLimitCounter : IRateLimitCounter, IDisposable
{
    private readonly PartitionedRateLimiter<LimitSpec> _limiter;

    // Peek-then-charge across several limiters must not interleave with another request's, or two
    // requests could each pass the peek and one would be charged on some limits and refused on others.
    private readonly Lock _gate = new();

    public LocalRateLimitCounter(TimeProvider time)
    {
        _limiter = PartitionedRateLimiter.Create<LimitSpec, LimitSpec>(spec =>
            RateLimitPartition.Get(spec, s => new SlidingWindowCounterLimiter(s.PermitLimit, s.Window, time)));
    }

    public ValueTask<LimitDecision> PeekAsync(IReadOnlyList<LimitSpec> limits, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return new(Attempt(limits, 0));
        }
    }

    public ValueTask<LimitDecision> AcquireAsync(IReadOnlyList<LimitSpec> limits, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var peek = Attempt(limits, 0);
            return new(peek.Allowed ? Attempt(limits, 1) : peek);
        }
    }

    public void Dispose() => _limiter.Dispose();

    private LimitDecision Attempt(IReadOnlyList<LimitSpec> limits, int permits)
    {
        var states = new LimitState[limits.Count];
        for (var i = 0; i < limits.Count; i++)
        {
            using var lease = _limiter.AttemptAcquire(limits[i], permits);
            var (remaining, reset, retry) = SlidingWindowCounterLimiter.Read(lease);
            states[i] = new LimitState(limits[i], lease.IsAcquired && (permits > 0 || remaining > 0), remaining, lease.IsAcquired && remaining > 0 ? reset : Max(retry, reset));
        }

        return new LimitDecision(states);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
