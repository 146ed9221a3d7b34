namespace Gateway.Keys;

/// <summary>
/// The network address of the admin caller, for the audit entries its call writes. Ambient (flows with
/// the call) because the lifecycle below the admin API is shared with callers that have no HTTP request;
/// set by the admin token filter once a call is accepted.
/// </summary>
internal static class AuditCaller
{
    private static readonly AsyncLocal<string?> Address = new();

    public static string? Current => Address.Value;

    public static void Set(string? address) => Address.Value = address;
}
