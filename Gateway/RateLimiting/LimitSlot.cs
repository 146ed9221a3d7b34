namespace Gateway.RateLimiting;

/// <summary>
/// Positions in a <see cref="LimitBatch"/>. The IP stage adds the client IP's limit first; the request
/// stage appends the route policy or workspace limit, then the key's own. Ranges are [from, to).
/// </summary>
internal static class LimitSlot
{
    /// <summary>The client IP's limit.</summary>
    public const int Ip = 0;

    /// <summary>
    /// Just past the IP limit: the end of the IP stage's range and the start of the request stage's
    /// (a batch whose count is this holds only the IP limit).
    /// </summary>
    public const int AfterIp = Ip + 1;
}
