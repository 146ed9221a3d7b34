using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Signing;

/// <summary>
/// Computes <c>X-Gateway-Signature</c>: an HMAC-SHA256 over the request line and the identity headers the
/// upstream receives, so an upstream reachable by others can tell the gateway's requests from forgeries.
/// </summary>
internal sealed class IdentitySigner(IOptionsMonitor<GatewayOptions> options, TimeProvider time)
{
    public const string HeaderName = "X-Gateway-Signature";

    /// <summary>The headers covered, in canonical order, after t, method and path-and-query.</summary>
    public static readonly string[] SignedHeaders =
    [
        "X-Org-Id", "X-Key-Id", "X-Key-Name", "X-Key-Scopes", "X-Key-Environment", "X-Customer-Id", "X-Request-Id",
    ];

    private (List<SigningSecret> Source, string Id, byte[] Key)? _current;

    public bool Enabled => options.CurrentValue.Signing.Secrets.Count > 0;

    /// <returns>The header value, or null when no secret is configured.</returns>
    public string? Sign(string method, string pathAndQuery, Func<string, string?> header)
    {
        if (Current() is not { } signer)
        {
            return null;
        }

        var t = time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var canonical = new StringBuilder(256)
            .Append(t).Append('\n')
            .Append(method).Append('\n')
            .Append(pathAndQuery);
        foreach (var name in SignedHeaders)
        {
            canonical.Append('\n').Append(header(name));
        }

        var mac = HMACSHA256.HashData(signer.Key, Encoding.UTF8.GetBytes(canonical.ToString()));
        return $"t={t},kid={signer.Id},v1={Convert.ToHexStringLower(mac)}";
    }

    private (string Id, byte[] Key)? Current()
    {
        var secrets = options.CurrentValue.Signing.Secrets;
        if (secrets.Count == 0)
        {
            return null;
        }

        // Re-derived only when the configuration reloads (a reload binds a new list).
        var cached = _current;
        if (cached is null || !ReferenceEquals(cached.Value.Source, secrets))
        {
            cached = (secrets, secrets[0].Id, Encoding.UTF8.GetBytes(secrets[0].Secret));
            _current = cached;
        }

        return (cached.Value.Id, cached.Value.Key);
    }
}
