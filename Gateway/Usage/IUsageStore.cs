namespace Gateway.Usage;

/// <summary>
/// Where flushed usage counts live: a table in the SQLite store, or hourly hashes in Redis. Writes add
/// to what is there, so several instances flushing the same minute sum up instead of overwriting.
/// </summary>
public interface IUsageStore
{
    /// <summary>
    /// Adds a batch of per-minute counts; one call per flush, never one per request, and one at a time. Called on every
    /// flush, with an empty batch too: a store may hold a part of an earlier batch to send again (Redis does).
    /// </summary>
    Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken);

    /// <summary>Counts in [<paramref name="since"/>, <paramref name="until"/>) of the given subjects, or of every route when <paramref name="subjects"/> is null.</summary>
    Task<IReadOnlyList<UsageRow>> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken);

    /// <summary>Folds minute counts older than <paramref name="rollUpBefore"/> into hours and drops counts older than <paramref name="deleteBefore"/>.</summary>
    Task CompactAsync(DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore, CancellationToken cancellationToken);
}
