namespace Gateway.RequestLog;

/// <summary>
/// Where request records live: a table of the embedded SQLite store, or one Redis stream per organization
/// (capped with MAXLEN, aged out with MINID). Shared by every instance on the same store.
/// </summary>
internal interface IRequestLogStore
{
    Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken);

    /// <summary>Removes records older than <paramref name="olderThan"/> and, for each of <paramref name="orgs"/> (null: no organization), all but the newest <paramref name="maxPerOrg"/>.</summary>
    Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken);

    /// <exception cref="InvalidCursorException">The cursor was not issued by this store.</exception>
    Task<RequestPage> QueryAsync(RequestQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// The newest record with <paramref name="requestId"/> in <paramref name="org"/>, or in any organization (and under
    /// none) when <paramref name="org"/> is null. Clients choose their <c>X-Request-Id</c>, so one id can name records
    /// of several organizations: a lookup for one organization must not be shadowed by another's newer record.
    /// </summary>
    Task<RequestRecord?> FindAsync(string requestId, string? org, DateTimeOffset notBefore, CancellationToken cancellationToken);

    /// <summary>The newest record with <paramref name="requestId"/> in any organization, or under none.</summary>
    Task<RequestRecord?> FindAsync(string requestId, DateTimeOffset notBefore, CancellationToken cancellationToken) =>
        FindAsync(requestId, null, notBefore, cancellationToken);
}
