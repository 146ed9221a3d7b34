using System.Collections.Concurrent;
using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Benchmarks;

/// <summary>
/// Answers <see cref="IKeyLookup.FindKeyByHashAsync"/> from memory; the benchmarks measure the cache
/// hit path, so the store is read only while warming up. Usage flushes are dropped.
/// </summary>
internal sealed class BenchStore : IKeyLookup, IKeyUsageRecorder
{
    private readonly ConcurrentDictionary<string, ApiKeyRecord> _byHash = new(StringComparer.Ordinal);

    public void Add(ApiKeyRecord record) => _byHash[record.Hash] = record;

    public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken) =>
        Task.FromResult(_byHash.TryGetValue(hash, out var record) ? record : null);

    public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => Task.CompletedTask;
}
