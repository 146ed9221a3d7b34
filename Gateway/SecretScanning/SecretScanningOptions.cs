namespace Gateway.SecretScanning;

/// <summary><c>Gateway:SecretScanning</c>: leaked-key reports in the GitHub secret-scanning partner format.</summary>
public sealed class SecretScanningOptions
{
    /// <summary>Bound by the secret-scanning feature itself, next to the <c>Gateway</c> section's other settings.</summary>
    internal const string SectionName = "Gateway:SecretScanning";

    public bool Enabled { get; set; }

    /// <summary>Path on the proxy listener that takes reports (read at start).</summary>
    public string Path { get; set; } = "/_gateway/secret-scanning";

    /// <summary><c>revoke</c>, <c>deactivate</c> or <c>report</c> (audit only). A default key is rotated instead of revoked or deactivated.</summary>
    public string Action { get; set; } = "revoke";

    /// <summary>Key identifier (GITHUB-PUBLIC-KEY-IDENTIFIER) → PEM ECDSA P-256 public key.</summary>
    public Dictionary<string, string> PublicKeys { get; set; } = new(StringComparer.Ordinal);
}
