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

    public static ApiKeyRecord Read(SqliteDataReader r)
    {
        var permits = NullableLong(r, "rate_limit_permits");
        var windowMs = NullableLong(r, "rate_limit_window_ms");
        var scopes = r.GetString(r.GetOrdinal("scopes"));
        return new ApiKeyRecord
        {
            Id = r.GetString(r.GetOrdinal("id")),
            OrgId = r.GetString(r.GetOrdinal("org_id")),
            Name = r.GetString(r.GetOrdinal("name")),
            Prefix = r.GetString(r.GetOrdinal("prefix")),
            Hash = r.GetString(r.GetOrdinal("hash")),
            PreviousHash = NullableString(r, "previous_hash"),
            PreviousHashExpiresAt = Time(NullableLong(r, "previous_hash_expires_at")),
            Environment = r.GetString(r.GetOrdinal("environment")),
            Scopes = scopes.Length == 0 ? [] : scopes.Split(' '),
            State = StateFromText(r.GetString(r.GetOrdinal("state"))),
            IsDefault = r.GetInt64(r.GetOrdinal("is_default")) != 0,
            Description = NullableString(r, "description"),
            CreatedBy = NullableString(r, "created_by"),
            CreatedAt = Time(r.GetInt64(r.GetOrdinal("created_at")))!.Value,
            UpdatedAt = Time(r.GetInt64(r.GetOrdinal("updated_at")))!.Value,
            ExpiresAt = Time(NullableLong(r, "expires_at")),
            LastUsedAt = Time(NullableLong(r, "last_used_at")),
            RevokedAt = Time(NullableLong(r, "revoked_at")),
            CustomerId = NullableString(r, "customer_id"),
            RateLimit = permits is { } p && windowMs is { } w ? new KeyRateLimit((int)p, TimeSpan.FromMilliseconds(w)) : null,
            Credits = CreditsFromText(NullableString(r, "credits")),
            AllowedCidrs = NullableString(r, "allowed_cidrs") is { Length: > 0 } cidrs ? cidrs.Split(' ') : [],
            Version = r.GetInt64(r.GetOrdinal("version")),
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

    private static string? NullableString(SqliteDataReader r, string column)
    {
        var i = r.GetOrdinal(column);
        return r.IsDBNull(i) ? null : r.GetString(i);
    }

    private static long? NullableLong(SqliteDataReader r, string column)
    {
        var i = r.GetOrdinal(column);
        return r.IsDBNull(i) ? null : r.GetInt64(i);
    }

    private static DateTimeOffset? Time(long? millis) =>
        millis is { } m ? DateTimeOffset.FromUnixTimeMilliseconds(m) : null;
}
