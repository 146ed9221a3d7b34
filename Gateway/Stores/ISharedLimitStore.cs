namespace Gateway.Stores;

/// <summary>
/// Rate-limit counters shared by every instance, offered by a shared store (Redis) and absent for the
/// embedded one. One call charges a lease of permits on one partition's sliding window (and gives back
/// what an earlier lease did not use), timed by the store's clock so instances with skewed clocks agree.
/// </summary>
internal interface ISharedLimitStore
{
    /// <summary>
    /// The store's name for a partition counted in windows of <paramref name="windowMs"/> (computed once per lease, not
    /// per call). Each window length has its own counts: a bucket's id depends on the window, so counts made under
    /// another one would be read as the wrong buckets.
    /// </summary>
    string PartitionKey(string partition, long windowMs);

    /// <summary>
    /// Takes up to <paramref name="want"/> permits of <paramref name="limit"/> per <paramref name="windowMs"/>,
    /// after giving back <paramref name="back"/> permits charged to bucket <paramref name="backBucket"/>, and
    /// charging <paramref name="seed"/> permits whatever is left. Far from the limit, the grant may be charged up to
    /// <paramref name="ahead"/> buckets past the current one, so that its permits can be used until that bucket ends.
    /// </summary>
    /// <exception cref="StoreUnavailableException">The store did not answer.</exception>
    Task<LimitLease> LeaseAsync(string partitionKey, long limit, long windowMs, long want, long backBucket, int back, int seed, int ahead = 0);
}

/// <summary>What the shared store granted: permits, permits left, the bucket they were charged to (without a grant, the
/// current one) and the buckets' length, the store's time, when the oldest counted bucket leaves the window and when a
/// permit is free again (all ms).</summary>
internal readonly record struct LimitLease(int Granted, int Left, long Bucket, long BucketMs, long StoreNowMs, long ResetMs, long WaitMs);
