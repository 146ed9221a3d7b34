namespace Gateway.Stores;

/// <summary>
/// Quota and credit counters shared by every instance, offered by a shared store (Redis) and absent for the
/// embedded one. A counter counts the units used in its period (until its expiry); an instance leases part of
/// what is left in one call and hands it out locally.
/// </summary>
internal interface ISharedQuotaStore
{
    /// <summary>
    /// Adds <paramref name="unreported"/> (units admitted while the store did not answer) to the counter, counting
    /// from <paramref name="floor"/> when the store has lost it, then grants <paramref name="need"/> units plus up to
    /// <paramref name="want"/> more (at most a quarter of what is left beyond the need, none when 64 or fewer are
    /// left), or nothing when fewer than <paramref name="need"/> are left of <paramref name="limit"/>.
    /// </summary>
    /// <exception cref="StoreUnavailableException">The store did not answer.</exception>
    Task<QuotaLease> LeaseAsync(string partition, long limit, long need, long want, long floor, DateTimeOffset? expiresAt, long unreported);

    /// <summary>The counter's count, or null when the store holds none.</summary>
    /// <exception cref="StoreUnavailableException">The store did not answer.</exception>
    Task<long?> UsedAsync(string partition);

    /// <summary>Adds <paramref name="delta"/> (negative to give units back) and returns the count; sets the expiry when one is given.</summary>
    /// <exception cref="StoreUnavailableException">The store did not answer.</exception>
    Task<long> AdjustAsync(string partition, long delta, DateTimeOffset? expiresAt);
}

/// <summary>What a lease call granted, and the counter's count before and after it.</summary>
internal readonly record struct QuotaLease(long Granted, long UsedBefore, long UsedAfter);
