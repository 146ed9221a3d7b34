using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Tests.Common;

/// <summary>
/// A store double's base: every call goes to a real store, and a double overrides only the calls it changes
/// (one place to extend when <see cref="IGatewayStore"/> grows).
/// </summary>
public abstract class DelegatingGatewayStore(IGatewayStore inner) : IGatewayStore
{
    protected IGatewayStore Inner { get; } = inner;

    public virtual Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken) => Inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);

    public virtual Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken) => Inner.FindKeyByHashAsync(hash, cancellationToken);

    public virtual Task InitializeAsync(CancellationToken cancellationToken) => Inner.InitializeAsync(cancellationToken);

    public virtual Task PingAsync(CancellationToken cancellationToken) => Inner.PingAsync(cancellationToken);

    public virtual Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken) => Inner.CreateOrganizationAsync(organization, defaultKey, audit, cancellationToken);

    public virtual Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken) => Inner.GetOrganizationAsync(id, cancellationToken);

    public virtual Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) => Inner.ListOrganizationsAsync(cancellationToken);

    public virtual Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken) => Inner.CreateKeyAsync(key, audit, cancellationToken);

    public virtual Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => Inner.GetKeyAsync(id, cancellationToken);

    public virtual Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken) => Inner.ListKeysAsync(orgId, cancellationToken);

    public virtual Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken) => Inner.ListAuditAsync(orgId, cursor, limit, cancellationToken);

    public virtual Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => Inner.RecordKeyUsageAsync(usage, cancellationToken);
}
