namespace Gateway.Http;

/// <summary>
/// The response headers through which the gateway reports the tightest rate limit. Only the gateway writes them: the
/// limit stages as the response starts, replacing an upstream's copies, and the proxy drops an upstream's trailers
/// under these names.
/// </summary>
internal static class RateLimitHeaderNames
{
    public const string Limit = "X-RateLimit-Limit";
    public const string Remaining = "X-RateLimit-Remaining";
    public const string Reset = "X-RateLimit-Reset";
}
