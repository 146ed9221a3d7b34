namespace Gateway.RateLimiting;

internal static class LimitKinds
{
    // Interned names: problem bodies and metric labels never build a string per request.
    public static string Name(LimitKind kind) => kind switch
    {
        LimitKind.Ip => "ip",
        LimitKind.Workspace => "workspace",
        LimitKind.Route => "route",
        LimitKind.Customer => "customer",
        _ => "key",
    };
}
