namespace Gateway.RateLimiting;

internal enum LimitKind : byte
{
    Ip,
    Workspace,
    Route,
    Key,
    Customer,
}
