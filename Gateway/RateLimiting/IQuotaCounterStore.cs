namespace Gateway.RateLimiting;

/// <summary>Where the embedded store's quota and credit counters persist, so a restart does not reset a month.</summary>
internal interface IQuotaCounterStore
{
    Task<long> LoadAsync(string partition, CancellationToken cancellationToken);

    Task SaveAsync(IReadOnlyList<(string Partition, long Used, DateTimeOffset? ExpiresAt)> counters, CancellationToken cancellationToken);

    /// <summary>Drops counters whose period has ended.</summary>
    Task DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken);
}
