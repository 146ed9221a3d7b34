using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Domain;

namespace Gateway.Admin;

internal sealed record RateLimitDto(int PermitLimit, string Window);

/// <summary>A key's credits: the live balance, and the refill if any.</summary>
internal sealed record CreditsDto(long Remaining, RefillDto? Refill = null);

internal sealed record RefillDto(long Amount, string Period);

/// <summary>The key object of the admin API (docs/admin-api.md). <see cref="Key"/> is set only by create and rotate.</summary>
internal sealed record KeyDto(
    string Id,
    string OrgId,
    string Name,
    string Prefix,
    string Environment,
    IReadOnlyList<string> Scopes,
    string Status,
    bool IsDefault,
    string? Description,
    string? CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? LastUsedAt,
    string? CustomerId,
    RateLimitDto? RateLimit,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? PreviousKeyExpiresAt,
    IReadOnlyList<string> AllowedCidrs,
    CreditsDto? Credits = null)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Key { get; init; }

    public static KeyDto From(ApiKeyRecord key, DateTimeOffset now, DateTimeOffset? pendingUse = null, string? plaintext = null) => new(
        key.Id,
        key.OrgId,
        key.Name,
        key.Prefix,
        key.Environment,
        key.Scopes,
        key.StatusAt(now).ToString().ToLowerInvariant(),
        key.IsDefault,
        key.Description,
        key.CreatedBy,
        key.CreatedAt,
        key.ExpiresAt,
        Latest(key.LastUsedAt, pendingUse),
        key.CustomerId,
        key.RateLimit is { } r ? new RateLimitDto(r.PermitLimit, r.Window.ToString("c", CultureInfo.InvariantCulture)) : null,
        key.UpdatedAt,
        key.RevokedAt,
        key.PreviousHash is not null && key.PreviousHashExpiresAt > now ? key.PreviousHashExpiresAt : null,
        key.AllowedCidrs,
        key.Credits is { } c ? new CreditsDto(c.Remaining, c.Refill is { } refill ? new RefillDto(refill.Amount, QuotaPeriods.Name(refill.Period)) : null) : null)
    {
        Key = plaintext,
    };

    private static DateTimeOffset? Latest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : (a > b ? a : b);
}

internal sealed record OrgDto(string Id, string Name, DateTimeOffset CreatedAt, string DefaultKeyId)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public KeyDto? DefaultKey { get; init; }

    public static OrgDto From(Organization org, KeyDto? defaultKey = null) =>
        new(org.Id, org.Name, org.CreatedAt, org.DefaultKeyId) { DefaultKey = defaultKey };
}

internal sealed record AuditDto(string Id, string OrgId, string? KeyId, string Action, string Actor, DateTimeOffset At, JsonElement? Changes, string? CallerAddress);

internal sealed record SettingsDto(string Environment, string KeyPrefix, IReadOnlyList<string> Scopes);

internal sealed record ListDto<T>(IReadOnlyList<T> Items, string? NextCursor = null);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(KeyDto))]
[JsonSerializable(typeof(OrgDto))]
[JsonSerializable(typeof(ListDto<KeyDto>))]
[JsonSerializable(typeof(ListDto<OrgDto>))]
[JsonSerializable(typeof(ListDto<AuditDto>))]
[JsonSerializable(typeof(SettingsDto))]
[JsonSerializable(typeof(RateLimitDto))]
[JsonSerializable(typeof(CreditsDto))]
[JsonSerializable(typeof(CustomerDto))]
[JsonSerializable(typeof(ListDto<CustomerDto>))]
[JsonSerializable(typeof(CreateCustomerRequest))]
[JsonSerializable(typeof(PatchCustomerRequest))]
[JsonSerializable(typeof(CreditsRequest))]
[JsonSerializable(typeof(CreateOrgRequest))]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(PatchKeyRequest))]
[JsonSerializable(typeof(RotateKeyRequest))]
[JsonSerializable(typeof(LeakedKeysRequest))]
[JsonSerializable(typeof(LeakedKeysResponse))]
[JsonSerializable(typeof(AdminProblemDto))]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
