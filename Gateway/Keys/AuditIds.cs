namespace Gateway.Keys;

/// <summary>The id of a new audit entry, written once for every feature that audits: <c>aud_</c> and 20 random base62 characters.</summary>
internal static class AuditIds
{
    public static string New() => "aud_" + Base62.Random(20);
}
