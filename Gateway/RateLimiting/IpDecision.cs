namespace Gateway.RateLimiting;

internal enum IpDecision : byte
{
    Allowed,
    Refused,

    /// <summary>Let in under a per-instance guard; the shared IP limit is charged with the request's other limits.</summary>
    Deferred,
}
