using System.Globalization;
using Gateway.Domain;
using Microsoft.Data.Sqlite;

namespace Gateway.Stores.Sqlite;

internal static class SqliteKeyMapper
{
    public static string StateToText(KeyState state) => state switch
    {
        KeyState.Active => "active",
        KeyState.Inactive => "inactive",
        KeyState.Revoked => "revoked",
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    public static KeyState StateFromText(string text) => text switch
    {
        "active" => KeyState.Active,
        "inactive" => KeyState.Inactive,
        "revoked" => KeyState.Revoked,
        _ => throw new InvalidDataException($"Unknown key state '{text}'."),
    };

    /// <summary>
    /// The columns every key query selects from <c>keys</c>, in this order, so <see cref="Read"/> reads by position:
    /// looking each column up by name was 58% of the store read in a profile of a key cache miss (32% read by
    /// position). The last-used time comes from its own table (schema version 10).
    /// </summary>
    public const string Columns = "id, org_id, name, prefix, hash, previous_hash, previous_hash_expires_at, environment, scopes, state, "
        + "is_default, description, created_by, created_at, updated_at, expires_at, "
        + "(SELECT at FROM key_last_used WHERE key_last_used.id = keys.id), revoked_at, customer_id, "
        + "rate_limit_permits, rate_limit_window_ms, credits, allowed_cidrs, version";

    /// <summary>A row of <see cref="Columns"/>.</summary>
    public static ApiKeyRecord Read(SqliteDataReader r)
    {
        var permits = NullableLong(r, 19);
        var windowMs = NullableLong(r, 20);
        var scopes = r.GetString(8);
        return new ApiKeyRecord
        {
            Id = r.GetString(0),
            OrgId = r.GetString(1),
            Name = r.GetString(2),
            Prefix = r.GetString(3),
            Hash = r.GetString(4),
            PreviousHash = NullableString(r, 5),
            PreviousHashExpiresAt = Time(NullableLong(r, 6)),
            Environment = r.GetString(7),
            Scopes = scopes.Length == 0 ? [] : scopes.Split(' '),
            State = StateFromText(r.GetString(9)),
            IsDefault = r.GetInt64(10) != 0,
            Description = NullableString(r, 11),
            CreatedBy = NullableString(r, 12),
            CreatedAt = Time(r.GetInt64(13))!.Value,
            UpdatedAt = Time(r.GetInt64(14))!.Value,
            ExpiresAt = Time(NullableLong(r, 15)),
            LastUsedAt = Time(NullableLong(r, 16)),
            RevokedAt = Time(NullableLong(r, 17)),
            CustomerId = NullableString(r, 18),
            RateLimit = permits is { } p && windowMs is { } w ? new KeyRateLimit((int)p, TimeSpan.FromMilliseconds(w)) : null,
            Credits = CreditsFromText(NullableString(r, 21)),
            AllowedCidrs = NullableString(r, 22) is { Length: > 0 } cidrs ? cidrs.Split(' ') : [],
            Version = r.GetInt64(23),
        };
    }

    public static string? CreditsToText(KeyCredits? credits) => credits is null
        ? null
        : string.Create(CultureInfo.InvariantCulture, $"{credits.Remaining}|{credits.Epoch}|{credits.SetAt.ToUnixTimeMilliseconds()}|{credits.Refill?.Amount}|{(credits.Refill is { } r ? QuotaPeriods.Name(r.Period) : "")}");

    public static KeyCredits? CreditsFromText(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        var parts = text.Split('|');
        var refill = parts[3].Length > 0 && QuotaPeriods.TryParse(parts[4], out var period)
            ? new CreditRefill(long.Parse(parts[3], CultureInfo.InvariantCulture), period)
            : null;
        return new KeyCredits(
            long.Parse(parts[0], CultureInfo.InvariantCulture),
            refill,
            parts[1],
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[2], CultureInfo.InvariantCulture)));
    }

    private static string? NullableString(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long? NullableLong(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    private static DateTimeOffset? Time(long? millis) =>
        millis is { } m ? DateTimeOffset.FromUnixTimeMilliseconds(m) : null;
}
