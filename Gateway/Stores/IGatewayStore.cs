using Gateway.Domain;

namespace Gateway.Stores;

/// <summary>
/// The request path's only view of the store: one read by hash. Kept apart so the cache and the
/// benchmarks and tests that fake the store need nothing else.
/// </summary>
public interface IKeyLookup
{
    /// <summary>The key whose current or previous (grace period) hash is <paramref name="hash"/>.</summary>
    Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken);
}

/// <summary>Where the usage tracker flushes <c>lastUsedAt</c>, off the request path.</summary>
public interface IKeyUsageRecorder
{
    /// <summary>Raises <c>lastUsedAt</c> of each key to the given time (never lowers it).</summary>
    Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken);
}

/// <summary>
/// Everything the gateway persists. Implemented by the embedded SQLite store and the shared Redis
/// store; nothing above this interface knows which one runs. Writes that change a key take the
/// audit entry with them so the change and its record land together.
/// </summary>
public interface IGatewayStore : IKeyLookup, IKeyUsageRecorder
{
    /// <summary>Creates or migrates the schema. Called once at start.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Throws when the store does not answer; used by <c>/readyz</c>.</summary>
    Task PingAsync(CancellationToken cancellationToken);

    /// <exception cref="StoreConflictException">The org id exists.</exception>
    Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken);

    Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken);

    /// <exception cref="StoreConflictException">A non-revoked key of the org has that name.</exception>
    Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken);

    /// <summary>Replaces the key when its stored version is still <paramref name="expectedVersion"/>; the stored version becomes <c>key.Version</c>.</summary>
    /// <exception cref="StoreConcurrencyException">The key changed since it was read.</exception>
    /// <exception cref="StoreConflictException">The new name is taken.</exception>
    Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken);

    Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken);

    Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken);
}
