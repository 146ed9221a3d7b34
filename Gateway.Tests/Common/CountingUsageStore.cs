using Gateway.Usage;

namespace Gateway.Tests.Common;

/// <summary>Wraps a real usage store and counts its writes, to prove requests are counted in memory and written in batches.</summary>
public sealed class CountingUsageStore(IUsageStore inner) : IUsageStore
{
    private int _writes;

    public int Writes => Volatile.Read(ref _writes);

    public Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writes);
        return inner.AddAsync(batch, cancellationToken);
    }

    public Task<IReadOnlyList<UsageRow>> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken) =>
        inner.ReadAsync(kind, subjects, since, until, cancellationToken);

    public Task CompactAsync(DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore, CancellationToken cancellationToken) =>
        inner.CompactAsync(rollUpBefore, deleteBefore, cancellationToken);
}
