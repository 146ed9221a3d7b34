using System.Collections.Concurrent;
using Gateway.Keys;
using Gateway.Stores;

namespace Gateway.Benchmarks;

/// <summary>
/// Answers <see cref="IGatewayStore.FindKeyByHashAsync"/> from memory; the benchmarks measure the cache
/// hit path, so the store is read only while warming up. Everything else is not needed here.
/// </summary>
internal sealed class BenchStore : IGatewayStore
{
    private readonly ConcurrentDictionary<string, ApiKeyRecord> _byHash = new(StringComparer.Ordinal);

    public void Add(ApiKeyRecord record) => _byHash[record.Hash] = record;

    public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken) =>
        Task.FromResult(_byHash.TryGetValue(hash, out var record) ? record : null);

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken) => throw new NotSupportedException();
}
