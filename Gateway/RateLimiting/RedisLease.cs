using System.Diagnostics;

namespace Gateway.RateLimiting;

/// <summary>One instance's lease on one partition, held by <see cref="RedisRateLimitCounter"/>. All members are guarded by its lock (<c>lock (lease)</c>).</summary>
internal sealed class RedisLease(LimitSpec spec, string key) : OrderedGate
{
    private const int MaxLease = 1 << 20;

    /// <summary>Free permits at or below which the lease script grants single permits (RedisRateLimitScript).</summary>
    private const int SinglePermitsAt = 64;
    private static readonly long TicksPerMs = Stopwatch.Frequency / 1000;

    /// <summary>Monotonic milliseconds: leases are about Redis buckets mapped onto this clock, not wall time.</summary>
    public static long NowMs => Stopwatch.GetTimestamp() / TicksPerMs;

    public LimitSpec Spec { get; } = spec;

    /// <summary>The shared store's name for the partition.</summary>
    public string Key { get; } = key;

    public Task? Refill { get; set; }

    /// <summary>No IP request has looked at this lease yet (the first one says whether the address was promoted).</summary>
    public bool Fresh { get; set; } = true;

    /// <summary>
    /// Permits the next trip charges regardless of the limit: the sketch's count of a promoted address, and
    /// IP requests let in under the per-instance guard while no permit was at hand. A trip takes them off only
    /// once Redis has them, so while it is under way they still count as used.
    /// </summary>
    public int Seed { get; set; }

    /// <summary>The last trip granted permits whose bucket had ended by the time they arrived.</summary>
    public bool ArrivedStale { get; set; }

    /// <summary>Permits at hand, charged in Redis to <see cref="Bucket"/> (the current bucket or, far from the limit, a later one).</summary>
    public int Available { get; set; }

    public long Bucket { get; private set; } = long.MinValue;

    /// <summary>When <see cref="Bucket"/> ends, on this instance's clock (conservatively early).</summary>
    public long ValidUntil { get; private set; }

    /// <summary>
    /// The last grant was charged to a bucket after the current one, which Redis does only far from the limit: its
    /// unused permits can wait for the next trip to take them back (see <see cref="RedisLeaseSweeper"/>).
    /// </summary>
    public bool ChargedAhead { get; private set; }

    /// <summary>How long the buckets of this partition are (ms), as of the last trip.</summary>
    public long BucketMs { get; private set; }

    /// <summary>
    /// Redis had 64 or fewer permits free at the last trip (always, for a limit of 64 or less), so it grants single
    /// permits and the partition behaves as one shared counter: a permit a refused request took goes back to Redis,
    /// where every instance can take it, not to this lease.
    /// </summary>
    public bool Scarce { get; private set; }

    /// <summary>Redis had no permit; none can come back before this (the next bucket).</summary>
    public long ExhaustedUntil { get; private set; }

    // From creation, so a sweep does not retire a lease a request is about to fill.
    public long LastUsed { get; private set; } = NowMs;

    private int _want = 1;
    private int _takenInBucket;
    private int _sharedLeft;
    private long _resetAt;
    private long _retryAt;

    // Seed permits are requests already let in, so they count as used before a trip charges them.
    private int Left => Math.Max(0, _sharedLeft + Available - Seed);

    public bool CanTake(long now) => Available > 0 && now < ValidUntil;

    public bool KnownExhausted(long now) => now < ExhaustedUntil;

    public void Take(long now, ref LimitState state)
    {
        Available--;
        _takenInBucket++;
        LastUsed = now;
        state.Allowed = true;
        state.Remaining = Left;
        state.ResetAfter = TimeSpan.FromMilliseconds(Math.Max(1, _resetAt - now));
        state.Ticket = Bucket;
    }

    public void Peek(long now, ref LimitState state)
    {
        state.Allowed = true;
        state.Remaining = Left;
        state.ResetAfter = TimeSpan.FromMilliseconds(Math.Max(0, _resetAt - now));
    }

    public void Refuse(long now, ref LimitState state)
    {
        state.Allowed = false;
        state.Remaining = 0;
        state.ResetAfter = TimeSpan.FromMilliseconds(Math.Max(1, _retryAt - now));
    }

    /// <summary>A permit of a refused request: back to the lease while its bucket lasts (else it stays counted, stricter).</summary>
    public void GiveBack(long bucket)
    {
        Untake(bucket);
        Restock(bucket);
    }

    /// <summary>A permit of a refused request is going back to Redis: it no longer counts as this bucket's use.</summary>
    public void Untake(long bucket)
    {
        if (bucket == Bucket)
        {
            _takenInBucket--;
        }
    }

    /// <summary>A permit back in this lease while its bucket lasts (a give-back to Redis that Redis did not answer).</summary>
    public void Restock(long bucket)
    {
        if (bucket == Bucket)
        {
            Available++;
        }
    }

    /// <summary>Takes a permit at hand out of the lease, to give it back to Redis; false when none is.</summary>
    public bool Surrender(long now)
    {
        if (!CanTake(now))
        {
            return false;
        }

        Available--;
        return true;
    }

    /// <summary>A give-back landed and Redis has a permit free: this instance's refusal from memory no longer holds.</summary>
    public void Reopen(int left)
    {
        _sharedLeft = Math.Max(0, left);
        if (left > 0)
        {
            ExhaustedUntil = 0;
        }
    }

    public (long Want, long BackBucket, int Back) PrepareRefill(long now)
    {
        var back = 0;
        if (now >= ValidUntil && Available > 0)
        {
            back = Available;
            Available = 0;
        }

        // Ran out inside its bucket: ask for twice as much. Otherwise: what the last bucket used.
        _want = now < ValidUntil ? Math.Min(MaxLease, _want * 2) : Math.Clamp(_takenInBucket, 1, MaxLease);
        return (Math.Min(_want, Spec.PermitLimit), Bucket, back);
    }

    public void Apply(long sent, long want, int granted, int left, long bucket, long bucketMs, long redisNow, long reset, long wait)
    {
        if (bucket != Bucket)
        {
            // Permits of an older bucket must not be used past it: they were given back with this call or by
            // the sweep, or (given back by a refused request meanwhile) stay counted there, which is only stricter.
            Available = 0;

            Bucket = bucket;
            _takenInBucket = 0;
        }

        Available += granted;
        ChargedAhead = granted > 0 && bucket > redisNow / bucketMs;
        Scarce = left + granted <= SinglePermitsAt;
        BucketMs = bucketMs;
        _sharedLeft = Math.Max(0, left);
        ValidUntil = sent + ((bucket + 1) * bucketMs) - redisNow;
        _resetAt = sent + reset;
        if (granted == 0 && want > 0)
        {
            ExhaustedUntil = ValidUntil;
            _retryAt = sent + Math.Max(wait, 1);
        }
    }
}
