namespace Gateway.Http;

/// <summary>One problem the gateway answers with: the stable <c>code</c> clients switch on, its title and HTTP status.</summary>
internal sealed record ProblemCode(string Code, string Title, int Status);

/// <summary>
/// Every problem code the gateway writes, each written once here and used by every writer, by the usage
/// outcomes and by the docs test that compares this list with docs/problems.md row by row.
/// </summary>
internal static class ProblemCodes
{
    // Proxy listener: authentication and authorization of the API key.
    public static readonly ProblemCode MissingKey = new("missing_key", "Missing API key", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode InvalidKey = new("invalid_key", "Invalid API key", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode KeyInactive = new("key_inactive", "API key inactive", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode KeyRevoked = new("key_revoked", "API key revoked", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode KeyExpired = new("key_expired", "API key expired", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode WrongEnvironment = new("wrong_environment", "Wrong environment", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode InsufficientScope = new("insufficient_scope", "Insufficient scope", StatusCodes.Status403Forbidden);
    public static readonly ProblemCode IpNotAllowed = new("ip_not_allowed", "IP address not allowed", StatusCodes.Status403Forbidden);
    public static readonly ProblemCode RateLimited = new("rate_limited", "Too many requests", StatusCodes.Status429TooManyRequests);
    public static readonly ProblemCode QuotaExceeded = new("quota_exceeded", "Quota exceeded", StatusCodes.Status429TooManyRequests);
    public static readonly ProblemCode CreditsExhausted = new("credits_exhausted", "Credits exhausted", StatusCodes.Status429TooManyRequests);

    // Proxy listener: the request itself, routing and the upstream.
    public static readonly ProblemCode BadPath = new("bad_path", "Bad path", StatusCodes.Status400BadRequest);
    public static readonly ProblemCode BadRequest = new("bad_request", "Bad request", StatusCodes.Status400BadRequest);
    public static readonly ProblemCode NoRoute = new("no_route", "No route", StatusCodes.Status404NotFound);
    public static readonly ProblemCode UpstreamUnreachable = new("upstream_unreachable", "Upstream unreachable", StatusCodes.Status502BadGateway);
    public static readonly ProblemCode UpstreamTimeout = new("upstream_timeout", "Upstream timeout", StatusCodes.Status504GatewayTimeout);
    public static readonly ProblemCode NoHealthyUpstream = new("no_healthy_upstream", "No healthy upstream", StatusCodes.Status503ServiceUnavailable);

    // Both listeners.
    public static readonly ProblemCode StoreUnavailable = new("store_unavailable", "Store unavailable", StatusCodes.Status503ServiceUnavailable);
    public static readonly ProblemCode BodyTooLarge = new("body_too_large", "Body too large", StatusCodes.Status413PayloadTooLarge);

    // Admin listener.
    public static readonly ProblemCode InvalidRequest = new("invalid_request", "Invalid request", StatusCodes.Status400BadRequest);
    public static readonly ProblemCode AdminUnauthorized = new("admin_unauthorized", "Unauthorized", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode AdminThrottled = new("admin_throttled", "Too many failed attempts", StatusCodes.Status429TooManyRequests);
    public static readonly ProblemCode AdminCrossSite = new("admin_cross_site", "Cross-site request", StatusCodes.Status403Forbidden);
    public static readonly ProblemCode AdminForbidden = new("admin_forbidden", "Forbidden", StatusCodes.Status403Forbidden);
    public static readonly ProblemCode AdminCsrf = new("admin_csrf", "CSRF token missing or invalid", StatusCodes.Status403Forbidden);
    public static readonly ProblemCode NotFound = new("not_found", "Not found", StatusCodes.Status404NotFound);
    public static readonly ProblemCode Conflict = new("conflict", "Conflict", StatusCodes.Status409Conflict);

    // Proxy listener, secret-scanning report path.
    public static readonly ProblemCode InvalidSignature = new("invalid_signature", "Invalid signature", StatusCodes.Status401Unauthorized);
    public static readonly ProblemCode InvalidReport = new("invalid_report", "Invalid report", StatusCodes.Status400BadRequest);
    public static readonly ProblemCode ReportTooLarge = new("report_too_large", "Report too large", StatusCodes.Status413PayloadTooLarge);
    public static readonly ProblemCode ReportsBusy = new("reports_busy", "Reports busy", StatusCodes.Status503ServiceUnavailable);
    public static readonly ProblemCode MethodNotAllowed = new("method_not_allowed", "Method not allowed", StatusCodes.Status405MethodNotAllowed);

    // Admin listener, webhooks: a URL that points into the gateway's own networks (SSRF).
    public static readonly ProblemCode WebhookUrlNotAllowed = new("webhook_url_not_allowed", "Webhook URL not allowed", StatusCodes.Status400BadRequest);

    /// <summary>Every code, in docs/problems.md's order.</summary>
    public static readonly IReadOnlyList<ProblemCode> All =
    [
        MissingKey, InvalidKey, KeyInactive, KeyRevoked, KeyExpired, WrongEnvironment, InsufficientScope, IpNotAllowed, RateLimited, QuotaExceeded, CreditsExhausted,
        BadPath, BadRequest, NoRoute, UpstreamUnreachable, UpstreamTimeout, NoHealthyUpstream, StoreUnavailable, InvalidRequest, AdminUnauthorized,
        AdminThrottled, AdminCrossSite, AdminForbidden, AdminCsrf, NotFound, Conflict, BodyTooLarge, InvalidSignature, InvalidReport,
        ReportTooLarge, ReportsBusy, MethodNotAllowed,
        WebhookUrlNotAllowed,
    ];
}
