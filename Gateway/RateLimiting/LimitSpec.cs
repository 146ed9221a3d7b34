using Gateway.Http;
namespace Gateway.RateLimiting;

/// <summary>
/// One limit that applies to a request: whose partition and how many per window. A value type made of
/// strings the request already holds (org id, key id, policy name) and the client's address group, so
/// naming a partition allocates nothing; the limit and window are part of the identity, so a changed
/// setting takes effect on the next request with a fresh count (on Redis the shared hash is named by the partition and
/// the window only, so there a changed limit alone keeps what was counted).
/// </summary>
internal readonly record struct LimitSpec(LimitKind Kind, string? Owner, string? Name, UInt128 Address, int PermitLimit, TimeSpan Window)
{
    public static LimitSpec ForIp(UInt128 group, int permitLimit, TimeSpan window) => new(LimitKind.Ip, null, null, group, permitLimit, window);

    public static LimitSpec ForWorkspace(string orgId, int permitLimit, TimeSpan window) => new(LimitKind.Workspace, orgId, null, default, permitLimit, window);

    public static LimitSpec ForRoute(string policy, string orgId, int permitLimit, TimeSpan window) => new(LimitKind.Route, orgId, policy, default, permitLimit, window);

    public static LimitSpec ForKey(string keyId, int permitLimit, TimeSpan window) => new(LimitKind.Key, null, keyId, default, permitLimit, window);

    public static LimitSpec ForCustomer(string orgId, string customerId, int permitLimit, TimeSpan window) => new(LimitKind.Customer, orgId, customerId, default, permitLimit, window);

    public string KindName => LimitKinds.Name(Kind);

    /// <summary>The partition as text, for store keys; built only when a store is asked, never per request.</summary>
    public string PartitionText() => Kind switch
    {
        LimitKind.Ip => "ip:" + IpGroups.Format(Address),
        LimitKind.Workspace => "ws:" + Owner,
        LimitKind.Route => $"route:{Name}:{Owner}",
        LimitKind.Customer => $"cust:{Owner}:{Name}",
        _ => "key:" + Name,
    };
}
