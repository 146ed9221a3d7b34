using Gateway.Keys;
using Gateway.Stores;

namespace Gateway.Tests.Common;

/// <summary>Wraps a real store and counts key lookups, to prove which requests never reach it.</summary>
public sealed class CountingStore(IGatewayStore inner) : IGatewayStore
{
    private int _lookups;

    public int Lookups { get => Volatile.Read(ref _lookups); set => Volatile.Write(ref _lookups, value); }

    public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        return inner.FindKeyByHashAsync(hash, cancellationToken);
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

    public Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken) => inner.CreateOrganizationAsync(organization, defaultKey, audit, cancellationToken);

    public Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken) => inner.GetOrganizationAsync(id, cancellationToken);

    public Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) => inner.ListOrganizationsAsync(cancellationToken);

    public Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken) => inner.CreateKeyAsync(key, audit, cancellationToken);

    public Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken) => inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);

    public Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => inner.GetKeyAsync(id, cancellationToken);

    public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken) => inner.ListKeysAsync(orgId, cancellationToken);

    public Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken) => inner.ListAuditAsync(orgId, cursor, limit, cancellationToken);

    public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => inner.RecordKeyUsageAsync(usage, cancellationToken);
}
