using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Benchmarks;

/// <summary>Keys and records shaped like production ones, built once per process.</summary>
internal static class BenchData
{
    public static readonly string ValidKey = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);

    /// <summary>Well formed except the last checksum character: the typo the checksum exists to catch.</summary>
    public static readonly string BadChecksumKey = ValidKey[..^1] + (ValidKey[^1] == 'A' ? 'B' : 'A');

    /// <summary>Well formed with a valid checksum, but no record has its hash.</summary>
    public static readonly string UnknownKey = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);

    public static ApiKeyRecord Record(string key)
    {
        var now = DateTimeOffset.UtcNow;
        return new ApiKeyRecord
        {
            Id = "key_01JBENCH0000000000000000",
            OrgId = "acme",
            Name = "server_prod",
            Prefix = ApiKeyFormat.DisplayPrefix(key),
            Hash = ApiKeyFormat.Hash(key),
            Environment = KeyEnvironments.Production,
            Scopes = ["read", "write"],
            CustomerId = "cust_42",
            CreatedAt = now,
            UpdatedAt = now,
        };
    }
}
