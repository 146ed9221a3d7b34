using Gateway.Domain;

namespace Gateway.Stores;

/// <summary>
/// Bulk writes for <c>Gateway keys import</c>: many keys per round trip instead of one admin call (and
/// one transaction or script) per key. Implemented by both stores; nothing on the request path uses it.
/// </summary>
internal interface IKeyImportStore
{
    /// <summary>
    /// Writes one batch: each organization in <paramref name="organizations"/> that is not stored yet
    /// (its default key is among <paramref name="keys"/>), then every key whose hash, id and live name are
    /// all free in the store, then the audit entries, as one transaction on SQLite and one pipelined round
    /// of scripts on Redis. A key that would clash is skipped, not updated, so a run can be repeated.
    /// </summary>
    /// <returns>How many keys were written.</returns>
    Task<int> ImportKeysAsync(IReadOnlyList<Organization> organizations, IReadOnlyList<ApiKeyRecord> keys, IReadOnlyList<AuditEntry> audit, CancellationToken cancellationToken);
}
