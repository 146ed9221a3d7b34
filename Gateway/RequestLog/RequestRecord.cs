namespace Gateway.RequestLog;

/// <summary>
/// One request that reached authentication, as the request log keeps it. Never a key, a query string or a body:
/// <see cref="Path"/> is the path only. <see cref="OrgId"/> is null for refusals before an organization was known
/// (no key, an unknown key, the store not answering).
/// </summary>
internal sealed record RequestRecord(
    DateTimeOffset Time,
    string RequestId,
    string? OrgId,
    string? KeyId,
    string? CustomerId,
    string Method,
    string Path,
    string? Route,
    int Status,
    string? Code,
    double DurationMs,
    string? ClientIp,
    int? UpstreamStatus);

/// <summary>A newest-first read of one organization's records (<see cref="OrgId"/> null: the records under no organization).</summary>
internal sealed record RequestQuery(
    string? OrgId,
    string? KeyId,
    string? CustomerId,
    int? Status,
    string? Code,
    DateTimeOffset? From,
    DateTimeOffset? To,
    int Limit,
    string? Cursor,
    DateTimeOffset NotBefore);

internal sealed record RequestPage(IReadOnlyList<RequestRecord> Items, string? Next);

/// <summary>A cursor this store did not issue.</summary>
internal sealed class InvalidCursorException() : Exception("The cursor is not one this API returned.");
