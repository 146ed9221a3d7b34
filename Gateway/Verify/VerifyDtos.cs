using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Verify;

/// <summary>
/// <c>POST /v1/keys/verify</c>. <see cref="Environment"/> defaults to <c>Gateway:Environment</c>; <see cref="Scopes"/>
/// the key must all hold; <see cref="Cost"/> what the call costs in credits (default 1); <see cref="Charge"/> whether
/// to consume limits; <see cref="ClientIp"/> the end client's address, checked against the key's allowed CIDRs.
/// </summary>
internal sealed record VerifyKeyRequest(
    string Key,
    string? Environment = null,
    IReadOnlyList<string>? Scopes = null,
    int? Cost = null,
    bool? Charge = null,
    string? ClientIp = null);

/// <summary>The limit with the fewest permits left (the refused one when refused): permits per window, left, seconds until one frees up.</summary>
internal sealed record VerifyRateLimitDto(int Limit, int Remaining, long Reset);

/// <summary>The quota that applies to the key's customer, when one does.</summary>
internal sealed record VerifyQuotaDto(long Limit, long Remaining, long Reset);

/// <summary>The key's credits, when it has any.</summary>
internal sealed record VerifyCreditsDto(long Remaining);

/// <summary>
/// The verify answer, always with status 200. <see cref="Code"/> is null when valid, else the proxy's problem code.
/// The key's fields are null when the key is unknown to the caller (<c>invalid_key</c>).
/// </summary>
internal sealed record VerifyKeyResponse(
    bool Valid,
    string? Code,
    string? KeyId,
    string? OrgId,
    string? Name,
    IReadOnlyList<string>? Scopes,
    string? Environment,
    string? CustomerId,
    VerifyRateLimitDto? RateLimit,
    VerifyQuotaDto? Quota,
    VerifyCreditsDto? Credits);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(VerifyKeyRequest))]
[JsonSerializable(typeof(VerifyKeyResponse))]
internal sealed partial class VerifyJsonContext : JsonSerializerContext;
