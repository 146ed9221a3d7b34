using System.Collections.Concurrent;

namespace Gateway.RateLimiting;

/// <summary>
/// Every 100 ms, gives back to Redis what expired leases of <see cref="RedisRateLimitCounter"/> did not
/// use (right away near the limit, else once the partition's next trip has not done it for a few buckets), and
/// forgets idle leases (so a flood of client addresses does not keep one lease each).
/// </summary>
internal sealed class RedisLeaseSweeper : IDisposable
{
    /// <summary>Buckets an expired lease charged ahead may keep its unused permits for, waiting for the partition's next trip.</summary>
    private const int HoldUnusedBuckets = 4;

    private readonly ConcurrentDictionary<LimitSpec, RedisLease> _leases;
    private readonly Func<RedisLease, long, int, Task> _giveBack;
    private readonly Timer _timer;
    private int _sweeping;

    /// <param name="leases">The counter's leases; retired ones are removed from it.</param>
    /// <param name="giveBack">Returns a lease's unused permits of a bucket to Redis, clearing <see cref="RedisLease.Refill"/> when done.</param>
    public RedisLeaseSweeper(ConcurrentDictionary<LimitSpec, RedisLease> leases, Func<RedisLease, long, int, Task> giveBack)
    {
        _leases = leases;
        _giveBack = giveBack;
        _timer = new Timer(static s => ((RedisLeaseSweeper)s!).SweepOnce(), this, 100, 100);
    }

    public void Dispose() => _timer.Dispose();

    /// <summary>
    /// The timer's callback. A sweep that outlasts the period (many leases, as with a new client IP per
    /// request, on a busy machine) is never joined by the next one: overlapping sweeps contending for the
    /// same lease locks piled up on the thread pool until no thread was left for requests.
    /// </summary>
    private void SweepOnce()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            Sweep();
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    /// <summary>Gives back what expired leases did not use, and forgets idle leases.</summary>
    private void Sweep()
    {
        var now = RedisLease.NowMs;
        foreach (var (spec, lease) in _leases)
        {
            // A lease a request holds right now is in use, not idle: the next sweep looks at it again.
            if (!Monitor.TryEnter(lease))
            {
                continue;
            }

            try
            {
                if (lease.Retired || lease.Refill is not null || now < lease.ValidUntil)
                {
                    continue;
                }

                if (lease.Available == 0)
                {
                    if (now - lease.LastUsed > 5_000 && now >= lease.ExhaustedUntil)
                    {
                        lease.Retired = true;
                        _leases.TryRemove(new KeyValuePair<LimitSpec, RedisLease>(spec, lease));
                    }

                    continue;
                }

                // Far from the limit, the next trip of the partition takes them back with it (a second script call
                // per lease otherwise); held unreturned for at most HoldUnusedBuckets, counted meanwhile, which is
                // only stricter.
                if (lease.ChargedAhead && now - lease.ValidUntil < HoldUnusedBuckets * lease.BucketMs)
                {
                    continue;
                }

                var (bucket, back) = (lease.Bucket, lease.Available);
                lease.Available = 0;
                lease.Refill = _giveBack(lease, bucket, back);
            }
            finally
            {
                Monitor.Exit(lease);
            }
        }
    }
}
