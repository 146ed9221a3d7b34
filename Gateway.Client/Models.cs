using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Client;

/// <summary>A key's own rate limit: <see cref="PermitLimit"/> requests per <see cref="Window"/> (<c>hh:mm:ss</c>).</summary>
public sealed record RateLimit(int PermitLimit, string Window);

/// <summary>A key as the admin API shows it. <see cref="Key"/> (the plaintext) is set only by create and rotate.</summary>
public sealed record ApiKey
{
    public string Id { get; init; } = "";
    public string OrgId { get; init; } = "";
    public string Name { get; init; } = "";
    public string Prefix { get; init; } = "";
    public string Environment { get; init; } = "";
    public IReadOnlyList<string> Scopes { get; init; } = [];
    public string Status { get; init; } = "";
    public bool IsDefault { get; init; }
    public string? Description { get; init; }
    public string? CreatedBy { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
    public string? CustomerId { get; init; }
    public RateLimit? RateLimit { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }
    public DateTimeOffset? PreviousKeyExpiresAt { get; init; }
    public IReadOnlyList<string> AllowedCidrs { get; init; } = [];

    /// <summary>The key's credits, when it has any: the live balance and the refill.</summary>
    public KeyCredits? Credits { get; init; }

    /// <summary>The plaintext key: only in the answers to create and rotate, shown once.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Key { get; init; }
}

/// <summary>A key's credits: <see cref="Remaining"/> now, and <see cref="Refill"/> (<c>day</c> or <c>month</c>) if any.</summary>
public sealed record KeyCredits(long Remaining, CreditRefill? Refill);

/// <summary>Credits set back to <see cref="Amount"/> at the start of every calendar <see cref="Period"/> (UTC).</summary>
public sealed record CreditRefill(long Amount, string Period);

/// <summary>A quota: <see cref="Limit"/> requests per calendar <see cref="Period"/> (<c>day</c> or <c>month</c>, UTC).</summary>
public sealed record Quota(long Limit, string Period);

/// <summary>A customer of an organization; its keys share its rate limit and quota (its own, else its plan's).</summary>
public sealed record Customer(string Id, string OrgId, string Name, string? Plan, RateLimit? RateLimit, Quota? Quota, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>An organization; <see cref="DefaultKey"/> (with its plaintext) only in the create answer.</summary>
public sealed record Organization(string Id, string Name, DateTimeOffset CreatedAt, string DefaultKeyId)
{
    public ApiKey? DefaultKey { get; init; }
}

/// <summary>One page of a list; <see cref="NextCursor"/> is set when there is more.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor = null);

public sealed record AuditEntry(string Id, string OrgId, string? KeyId, string Action, string Actor, DateTimeOffset At, JsonElement? Changes, string? CallerAddress);

public sealed record GatewaySettings(string Environment, string KeyPrefix, IReadOnlyList<string> Scopes);

public sealed record CreateOrgRequest(string Id, string? Name = null);

/// <summary><c>POST /admin/orgs/{org}/keys</c>; members left null take the gateway's defaults.</summary>
public sealed record CreateKeyRequest(string Name)
{
    public string? Environment { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public string? Description { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? CreatedBy { get; init; }
    public string? CustomerId { get; init; }
    public RateLimit? RateLimit { get; init; }
    public IReadOnlyList<string>? AllowedCidrs { get; init; }
}

/// <summary>
/// <c>PATCH /admin/keys/{id}</c>: only what is set changes. The optional members are cleared with the
/// <c>Clear…</c> flags (the API's explicit null), since a null property here means "unchanged".
/// </summary>
public sealed record KeyUpdate
{
    public string? Name { get; init; }
    public string? Description { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public bool ClearExpiresAt { get; init; }
    public string? CustomerId { get; init; }
    public bool ClearCustomerId { get; init; }
    public RateLimit? RateLimit { get; init; }
    public bool ClearRateLimit { get; init; }

    /// <summary>An empty list lets the key be used from any address.</summary>
    public IReadOnlyList<string>? AllowedCidrs { get; init; }
}

public sealed record LeakedKeysRequest(IReadOnlyList<string> Tokens, string? Url = null, string? Source = null);

public sealed record LeakedKey([property: JsonPropertyName("token_hash")] string TokenHash, string Label, string? KeyId, string Outcome);

public sealed record LeakedKeysResult(IReadOnlyList<LeakedKey> Items);

public sealed record UsageCounts(long Total, IReadOnlyDictionary<string, long> Counts);

public sealed record UsageInterval(DateTimeOffset Start, long Total, IReadOnlyDictionary<string, long> Counts);

public sealed record UsageByKey(string KeyId, string Name, string Prefix, string Status, UsageCounts Usage);

public sealed record UsageByRoute(string RouteId, UsageCounts Usage);

public sealed record UsageReport(
    string? OrgId,
    string? KeyId,
    DateTimeOffset From,
    DateTimeOffset To,
    string Granularity,
    IReadOnlyList<string> Outcomes,
    UsageCounts Totals,
    IReadOnlyList<UsageInterval> Intervals)
{
    public IReadOnlyList<UsageByKey>? Keys { get; init; }
    public IReadOnlyList<UsageByRoute>? Routes { get; init; }
}

/// <summary>The window of a usage query; members left null take the gateway's defaults.</summary>
public sealed record UsageQuery(DateTimeOffset? From = null, DateTimeOffset? To = null, string? Granularity = null);

/// <summary><c>POST /admin/tokens</c>: <see cref="Role"/> is <c>verifier</c>, <c>viewer</c>, <c>admin</c> or <c>owner</c>; no <see cref="Org"/>: every organization.</summary>
public sealed record CreateTokenRequest(string Name, string Role, string? Org = null, DateTimeOffset? ExpiresAt = null);

/// <summary>An operator token; <see cref="Token"/> (the plaintext) only in the create answer.</summary>
public sealed record OperatorToken(
    string Id,
    string Name,
    string Role,
    string? Org,
    string Prefix,
    string Status,
    string? CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? LastUsedAt,
    DateTimeOffset? RevokedAt)
{
    public string? Token { get; init; }
}

/// <summary><c>GET /admin/me</c>: who the caller is; <see cref="Via"/> is <c>bootstrap</c> or <c>token</c>.</summary>
public sealed record Caller(string Name, string Role, string? Org, string Via, string? TokenId);

/// <summary>
/// <c>POST /v1/keys/verify</c>. <see cref="Environment"/> defaults to the gateway's; <see cref="Scopes"/> must all be
/// held; <see cref="Charge"/> consumes limits as a proxied request would; <see cref="ClientIp"/> is checked against
/// the key's allowed CIDRs.
/// </summary>
public sealed record VerifyKeyRequest(string Key)
{
    public string? Environment { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public int? Cost { get; init; }
    public bool? Charge { get; init; }
    public string? ClientIp { get; init; }
}

public sealed record VerifyRateLimit(int Limit, int Remaining, long Reset);

public sealed record VerifyQuota(long Limit, long Remaining, long Reset);

public sealed record VerifyCredits(long Remaining);

/// <summary>The verify answer: <see cref="Valid"/>, or the proxy's refusal <see cref="Code"/> (<c>invalid_key</c>, <c>key_revoked</c>, <c>rate_limited</c>…).</summary>
public sealed record VerifyKeyResult(
    bool Valid,
    string? Code,
    string? KeyId,
    string? OrgId,
    string? Name,
    IReadOnlyList<string>? Scopes,
    string? Environment,
    string? CustomerId,
    VerifyRateLimit? RateLimit,
    VerifyQuota? Quota,
    VerifyCredits? Credits);

/// <summary>
/// One request of the request log (<c>GET /admin/orgs/{org}/requests</c>, <c>GET /admin/requests/{requestId}</c>): never a
/// key, a query string or a body. <see cref="OrgId"/> is set only by <see cref="GatewayClient.GetRequestAsync"/>.
/// </summary>
public sealed record LoggedRequest(
    DateTimeOffset Time,
    string RequestId,
    string? KeyId,
    string? CustomerId,
    string Method,
    string Path,
    string? Route,
    int Status,
    string? Code,
    double DurationMs,
    string? ClientIp,
    int? UpstreamStatus)
{
    public string? OrgId { get; init; }
}

/// <summary>A newest-first page of the request log; pass <see cref="Next"/> as <see cref="RequestLogQuery.Cursor"/> for the next.</summary>
public sealed record RequestLogPage(IReadOnlyList<LoggedRequest> Items, string? Next = null);

/// <summary>Filters of a request-log read; members left null filter nothing (<see cref="Limit"/>: the gateway's 50, at most 1000).</summary>
public sealed record RequestLogQuery
{
    public string? KeyId { get; init; }
    public string? CustomerId { get; init; }
    public int? Status { get; init; }
    public string? Code { get; init; }
    public DateTimeOffset? From { get; init; }
    public DateTimeOffset? To { get; init; }
    public int? Limit { get; init; }
    public string? Cursor { get; init; }
}

/// <summary>
/// A webhook of an organization. <see cref="Secret"/> (<c>whsec_</c> + base64, the signing key) only in the create
/// answer; <see cref="DisabledReason"/> says why a webhook that kept failing was disabled.
/// </summary>
public sealed record Webhook(
    string Id,
    string OrgId,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    bool Enabled,
    string? DisabledReason,
    DateTimeOffset? FailingSince,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public string? Secret { get; init; }
}

/// <summary><c>POST /admin/orgs/{org}/webhooks</c>: <see cref="Events"/> from <c>key.created</c>, <c>key.rotated</c>, <c>key.revoked</c>, <c>key.deactivated</c>, <c>key.leaked</c>, <c>key.expiring</c>, <c>quota.threshold</c>, <c>credits.exhausted</c>.</summary>
public sealed record CreateWebhookRequest(string Url, IReadOnlyList<string> Events, string? Description = null);

/// <summary>
/// <c>PATCH /admin/webhooks/{id}</c>: only what is set changes; <see cref="ClearDescription"/> sends the API's explicit
/// null. <see cref="Enabled"/> true re-enables a webhook the gateway disabled.
/// </summary>
public sealed record WebhookUpdate
{
    public string? Url { get; init; }
    public IReadOnlyList<string>? Events { get; init; }
    public string? Description { get; init; }
    public bool ClearDescription { get; init; }
    public bool? Enabled { get; init; }
}

/// <summary>One event sent (or being sent) to a webhook: <see cref="Status"/> <c>pending</c>, <c>delivered</c> or <c>failed</c>; <see cref="Id"/> is the <c>webhook-id</c> header.</summary>
public sealed record WebhookDelivery(
    string Id,
    string WebhookId,
    string Type,
    string Status,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    int? ResponseStatus,
    string? LastError,
    DateTimeOffset? DeliveredAt);

/// <summary><c>GET /admin/auth/providers</c>: which console sign-ins exist besides a token.</summary>
public sealed record AuthProviders(bool Oidc);

/// <summary>A problem+json body.</summary>
public sealed record ProblemDetails(
    string? Type,
    string? Title,
    int Status,
    string? Detail,
    string? Code,
    string? RequestId,
    string? Field,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? Errors);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ApiKey))]
[JsonSerializable(typeof(Organization))]
[JsonSerializable(typeof(Page<ApiKey>))]
[JsonSerializable(typeof(Page<Organization>))]
[JsonSerializable(typeof(Page<AuditEntry>))]
[JsonSerializable(typeof(Page<OperatorToken>))]
[JsonSerializable(typeof(GatewaySettings))]
[JsonSerializable(typeof(CreateOrgRequest))]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(LeakedKeysRequest))]
[JsonSerializable(typeof(LeakedKeysResult))]
[JsonSerializable(typeof(UsageReport))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(OperatorToken))]
[JsonSerializable(typeof(Caller))]
[JsonSerializable(typeof(VerifyKeyRequest))]
[JsonSerializable(typeof(VerifyKeyResult))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(Customer))]
[JsonSerializable(typeof(Page<Customer>))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(RateLimit))]
[JsonSerializable(typeof(LoggedRequest))]
[JsonSerializable(typeof(RequestLogPage))]
[JsonSerializable(typeof(Webhook))]
[JsonSerializable(typeof(Page<Webhook>))]
[JsonSerializable(typeof(CreateWebhookRequest))]
[JsonSerializable(typeof(WebhookDelivery))]
[JsonSerializable(typeof(Page<WebhookDelivery>))]
[JsonSerializable(typeof(AuthProviders))]
public sealed partial class GatewayJsonContext : JsonSerializerContext;
