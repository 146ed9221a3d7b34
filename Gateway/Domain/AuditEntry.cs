namespace Gateway.Domain;

/// <summary>
/// One admin change. <see cref="Changes"/> is a JSON object of <c>{"field":{"before":…,"after":…}}</c>;
/// it never contains key material (hashes included). <see cref="CallerAddress"/> is the network address
/// the change came from (null for changes the gateway made itself, and for entries written before it was recorded).
/// </summary>
public sealed record AuditEntry(
    string Id,
    string OrgId,
    string? KeyId,
    string Action,
    string Actor,
    DateTimeOffset At,
    string? Changes,
    string? CallerAddress = null);

public sealed record AuditPage(IReadOnlyList<AuditEntry> Items, string? NextCursor);
