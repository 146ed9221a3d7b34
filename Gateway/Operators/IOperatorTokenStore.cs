using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Operators;

/// <summary>
/// Where operator tokens live: a table of the embedded SQLite store, or hashes under the Redis store's
/// prefix, the same kind as the key store. Only digests are stored.
/// </summary>
internal interface IOperatorTokenStore
{
    /// <summary>Creates the token and appends <paramref name="audit"/> to its organization's audit log in the same write.</summary>
    /// <exception cref="StoreConflictException">A token that is not revoked has this name.</exception>
    Task CreateAsync(OperatorToken token, AuditEntry audit, CancellationToken cancellationToken);

    Task<OperatorToken?> FindByHashAsync(string hash, CancellationToken cancellationToken);

    Task<OperatorToken?> GetAsync(string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<OperatorToken>> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// A page of <see cref="ListAsync"/>'s list (created, then id): at most <paramref name="count"/> tokens (null: all)
    /// after <paramref name="after"/> only, of organization <paramref name="org"/> only (null: every token), so a token
    /// created between pages moves no other.
    /// </summary>
    Task<IReadOnlyList<OperatorToken>> ListAfterAsync(string? org, TimeIdPosition? after, int? count, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the token revoked (once; a second call keeps the first time) and returns it, or null when there is none. The
    /// call that revokes it appends <paramref name="audit"/>'s entry for the token in the same write; a repeated one appends nothing.
    /// </summary>
    Task<OperatorToken?> RevokeAsync(string id, DateTimeOffset at, Func<OperatorToken, AuditEntry> audit, CancellationToken cancellationToken);

    /// <summary>Raises <c>lastUsedAt</c> to <paramref name="at"/>.</summary>
    Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);
}
