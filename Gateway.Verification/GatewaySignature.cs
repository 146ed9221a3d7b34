using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Verification;

/// <summary>The names and the canonical string of the gateway's request signature.</summary>
public static class GatewaySignature
{
    /// <summary>The header the gateway signs with: <c>t=&lt;unix seconds&gt;,kid=&lt;id&gt;,v1=&lt;hex HMAC-SHA256&gt;</c>.</summary>
    public const string HeaderName = "X-Gateway-Signature";

    /// <summary>The signed headers, in the order they appear in the canonical string.</summary>
    public static IReadOnlyList<string> SignedHeaders { get; } =
    [
        "X-Org-Id", "X-Key-Id", "X-Key-Name", "X-Key-Scopes", "X-Key-Environment", "X-Customer-Id", "X-Request-Id",
    ];

    /// <summary>
    /// The string the gateway signs: t, method, path and query, then each of <see cref="SignedHeaders"/>
    /// (empty when absent), joined by <c>\n</c>.
    /// </summary>
    public static string CanonicalString(long timestamp, string method, string pathAndQuery, Func<string, string?> header)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        ArgumentNullException.ThrowIfNull(header);
        var builder = new StringBuilder(256)
            .Append(timestamp.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append(method).Append('\n')
            .Append(pathAndQuery);
        foreach (var name in SignedHeaders)
        {
            builder.Append('\n').Append(header(name));
        }

        return builder.ToString();
    }

    /// <summary>HMAC-SHA256 of the canonical string under the UTF-8 bytes of <paramref name="secret"/>, as lowercase hex.</summary>
    public static string Compute(string secret, string canonicalString)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(canonicalString);
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(canonicalString)));
    }
}
