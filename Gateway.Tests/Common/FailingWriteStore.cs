using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Tests.Common;

/// <summary>
/// Wraps a real store; while <see cref="FailAfterWrite"/> is set, a key update is applied and then the
/// call fails as if the store had answered too late (after running <see cref="AfterWrite"/>, e.g. to
/// freeze Redis), the way a revoke can land while its admin call fails.
/// </summary>
public sealed class FailingWriteStore(IGatewayStore inner) : IGatewayStore
{
    public bool FailAfterWrite { get; set; }

    public Action? AfterWrite { get; set; }

    public async Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken)
    {
        await inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);
        if (FailAfterWrite)
        {
            AfterWrite?.Invoke();
            throw new StoreUnavailableException("The store did not answer in time.", new TimeoutException());
        }
    }

    public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken) => inner.FindKeyByHashAsync(hash, cancellationToken);

    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    public Task PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

    public Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken) => inner.CreateOrganizationAsync(organization, defaultKey, audit, cancellationToken);

    public Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken) => inner.GetOrganizationAsync(id, cancellationToken);

    public Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) => inner.ListOrganizationsAsync(cancellationToken);

    public Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken) => inner.CreateKeyAsync(key, audit, cancellationToken);

    public Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => inner.GetKeyAsync(id, cancellationToken);

    public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken) => inner.ListKeysAsync(orgId, cancellationToken);

    public Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken) => inner.ListAuditAsync(orgId, cursor, limit, cancellationToken);

    public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => inner.RecordKeyUsageAsync(usage, cancellationToken);
}
