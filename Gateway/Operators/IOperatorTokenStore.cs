using Gateway.Stores;

namespace Gateway.Operators;

/// <summary>
/// Where operator tokens live: a table of the embedded SQLite store, or hashes under the Redis store's
/// prefix, the same kind as the key store. Only digests are stored.
/// </summary>
internal interface IOperatorTokenStore
{
    /// <exception cref="StoreConflictException">A token that is not revoked has this name.</exception>
    Task CreateAsync(OperatorToken token, CancellationToken cancellationToken);

    Task<OperatorToken?> FindByHashAsync(string hash, CancellationToken cancellationToken);

    Task<OperatorToken?> GetAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<OperatorToken>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Marks the token revoked (once; a second call keeps the first time) and returns it, or null when there is none.</summary>
    Task<OperatorToken?> RevokeAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>Raises <c>lastUsedAt</c> to <paramref name="at"/>.</summary>
    Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);
}
