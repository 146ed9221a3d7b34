namespace Gateway.Http;

/// <summary>
/// The response headers through which the gateway reports a customer's quota and a key's credits. Only the gateway
/// writes them: the limits stage when a quota or credits apply, and the proxy removes an upstream's copies.
/// </summary>
internal static class QuotaHeaders
{
    public const string QuotaLimit = "X-Quota-Limit";
    public const string QuotaRemaining = "X-Quota-Remaining";
    public const string QuotaReset = "X-Quota-Reset";
    public const string CreditsRemaining = "X-Credits-Remaining";

    public static readonly string[] All = [QuotaLimit, QuotaRemaining, QuotaReset, CreditsRemaining];
}
