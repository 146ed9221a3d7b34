namespace Gateway.Webhooks;

/// <summary>
/// A receiver of an organization's events. <see cref="Secret"/> (<c>whsec_</c> + base64) signs every delivery; it is
/// shown once, at creation. <see cref="FailingSince"/> is the first failed attempt since the last success: an
/// endpoint failing for <c>RetryFor</c> is disabled (<see cref="DisabledReason"/> says why).
/// </summary>
internal sealed record Webhook(
    string Id,
    string OrgId,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    string Secret,
    bool Enabled,
    string? DisabledReason,
    DateTimeOffset? FailingSince,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// One event for one webhook, in the store's outbox until delivered or given up. <see cref="Id"/> is the
/// <c>webhook-id</c> header, the same on every attempt, so a receiver can drop repeats. <see cref="Body"/> is the
/// exact JSON sent. While <see cref="Status"/> is pending, <see cref="NextAttemptAt"/> is when it is due (moved
/// forward by the lease of the instance that claimed it).
/// </summary>
internal sealed record WebhookDelivery(
    string Id,
    string WebhookId,
    string OrgId,
    string Type,
    string Body,
    string Status,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    int? ResponseStatus,
    string? LastError,
    DateTimeOffset? DeliveredAt)
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}

/// <summary>The event types a webhook may subscribe to.</summary>
internal static class WebhookEvents
{
    public const string KeyCreated = "key.created";
    public const string KeyRotated = "key.rotated";
    public const string KeyRevoked = "key.revoked";
    public const string KeyDeactivated = "key.deactivated";
    public const string KeyLeaked = "key.leaked";
    public const string KeyExpiring = "key.expiring";
    public const string QuotaThreshold = "quota.threshold";
    public const string CreditsExhausted = "credits.exhausted";

    public static readonly string[] All = [KeyCreated, KeyRotated, KeyRevoked, KeyDeactivated, KeyLeaked, KeyExpiring, QuotaThreshold, CreditsExhausted];

    /// <summary>The event for a key audit action, or null when that change has none.</summary>
    public static string? ForKeyAction(string action) => action switch
    {
        "key.create" => KeyCreated,
        "key.rotate" => KeyRotated,
        "key.revoke" => KeyRevoked,
        "key.deactivate" => KeyDeactivated,
        "key.leaked" => KeyLeaked,
        _ => null,
    };
}
