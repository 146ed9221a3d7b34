namespace Gateway.Domain;

/// <summary>
/// One admin change. <see cref="Changes"/> is a JSON object of <c>{"field":{"before":…,"after":…}}</c>;
/// it never contains key material (hashes included).
/// </summary>
public sealed record AuditEntry(
    string Id,
    string OrgId,
    string? KeyId,
    string Action,
    string Actor,
    DateTimeOffset At,
    string? Changes);

public sealed record AuditPage(IReadOnlyList<AuditEntry> Items, string? NextCursor);
