using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Verification;

/// <summary>
/// The names, the canonical strings and the keys of the gateway's request signature. The gateway builds what it
/// signs with these same methods, so a header added to the signed set here is signed there too.
/// </summary>
public static class GatewaySignature
{
    /// <summary>
    /// The header the gateway signs with: <c>t=&lt;unix seconds&gt;,kid=&lt;id&gt;,v1=&lt;hex&gt;</c>, with
    /// <c>n=&lt;nonce&gt;</c> and <c>v2=&lt;hex&gt;</c> added when version 2 is on.
    /// </summary>
    public const string HeaderName = "X-Gateway-Signature";

    /// <summary>The RFC 9530 header carrying the SHA-256 of a body that version 2 covers.</summary>
    public const string ContentDigestHeaderName = "Content-Digest";

    /// <summary>Version 2's content line for a request without a body.</summary>
    public const string NoBody = "none";

    /// <summary>
    /// Version 2's content line for a request whose body the signature does not cover: longer than the gateway's
    /// <c>MaxDigestBytes</c>, of unknown length (chunked), or digests turned off.
    /// </summary>
    public const string UnsignedBody = "unsigned";

    /// <summary>The signed identity headers, in the order they appear in both canonical strings.</summary>
    public static IReadOnlyList<string> SignedHeaders { get; } =
    [
        "X-Org-Id", "X-Key-Id", "X-Key-Name", "X-Key-Scopes", "X-Key-Environment", "X-Customer-Id", "X-Request-Id",
    ];

    /// <summary>
    /// Every header a verifier refuses to see more than once: the signature itself, the signed identity headers,
    /// and the <c>Host</c> and <c>Content-Digest</c> that version 2 covers. Version 1 checks all but those last two.
    /// </summary>
    public static IReadOnlyList<string> SingleHeaders { get; } =
    [
        HeaderName, .. SignedHeaders, "Host", ContentDigestHeaderName,
    ];

    private static readonly byte[] V2KeyInfoPrefix = Encoding.UTF8.GetBytes("X-Gateway-Signature v2 cluster=");

    /// <summary>
    /// Version 1's string: t, method, path and query, then each of <see cref="SignedHeaders"/> (empty when absent),
    /// joined by <c>\n</c>.
    /// </summary>
    public static string CanonicalString(long timestamp, string method, string pathAndQuery, Func<string, string?> header)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        ArgumentNullException.ThrowIfNull(header);
        // Written into a stack buffer (pooled beyond it): the canonical string is the only allocation.
        var text = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[512]);
        text.AppendFormatted(timestamp);
        text.AppendLiteral("\n");
        text.AppendLiteral(method);
        text.AppendLiteral("\n");
        text.AppendLiteral(pathAndQuery);
        AppendSignedHeaders(ref text, header);
        return text.ToStringAndClear();
    }

    /// <summary>
    /// Version 2's string, fifteen lines joined by <c>\n</c>: <c>v2</c>, t, nonce, method, the <c>Host</c> the
    /// upstream receives, the cluster id, path and query, each of <see cref="SignedHeaders"/> (empty when absent),
    /// then the content line: <see cref="NoBody"/>, <see cref="UnsignedBody"/> or the <c>Content-Digest</c> value.
    /// </summary>
    public static string CanonicalStringV2(
        long timestamp, string nonce, string method, string host, string clusterId, string pathAndQuery, Func<string, string?> header, string content)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(clusterId);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(content);

        // The leading "v2" keeps the two versions' strings apart even under one key.
        var text = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[640]);
        text.AppendLiteral("v2\n");
        text.AppendFormatted(timestamp);
        foreach (var line in (ReadOnlySpan<string>)[nonce, method, host, clusterId, pathAndQuery])
        {
            text.AppendLiteral("\n");
            text.AppendLiteral(line);
        }

        AppendSignedHeaders(ref text, header);
        text.AppendLiteral("\n");
        text.AppendLiteral(content);
        return text.ToStringAndClear();
    }

    private static void AppendSignedHeaders(ref DefaultInterpolatedStringHandler text, Func<string, string?> header)
    {
        foreach (var name in SignedHeaders)
        {
            text.AppendLiteral("\n");
            if (header(name) is { } value)
            {
                text.AppendLiteral(value);
            }
        }
    }

    /// <summary>Version 1: HMAC-SHA256 of the canonical string under the UTF-8 bytes of <paramref name="secret"/>, as lowercase hex.</summary>
    public static string Compute(string secret, string canonicalString)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(canonicalString);
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(canonicalString)));
    }

    /// <summary>Version 2: HMAC-SHA256 of the canonical string under a cluster key (<see cref="DeriveClusterKey"/>), as lowercase hex.</summary>
    public static string ComputeV2(ReadOnlySpan<byte> clusterKey, string canonicalString)
    {
        ArgumentNullException.ThrowIfNull(canonicalString);
        return Convert.ToHexStringLower(HMACSHA256.HashData(clusterKey, Encoding.UTF8.GetBytes(canonicalString)));
    }

    /// <summary>
    /// The 32-byte version 2 key of one cluster: HKDF-SHA256 (RFC 5869) with the UTF-8 bytes of the gateway's
    /// secret as input key material, no salt, and info <c>X-Gateway-Signature v2 cluster=</c> followed by the
    /// cluster id. An upstream holds only its own cluster's key: it reveals neither the secret nor any other
    /// cluster's key.
    /// </summary>
    public static byte[] DeriveClusterKey(string secret, string clusterId)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(clusterId);
        var info = new byte[V2KeyInfoPrefix.Length + Encoding.UTF8.GetByteCount(clusterId)];
        V2KeyInfoPrefix.CopyTo(info, 0);
        Encoding.UTF8.GetBytes(clusterId, info.AsSpan(V2KeyInfoPrefix.Length));
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, salt: [], info);
    }

    /// <summary>The RFC 9530 <c>Content-Digest</c> value of a body: <c>sha-256=:&lt;base64 SHA-256&gt;:</c>.</summary>
    public static string ContentDigest(ReadOnlySpan<byte> body) => "sha-256=:" + Convert.ToBase64String(SHA256.HashData(body)) + ":";

    /// <summary>
    /// The header name a CGI-style server would give <paramref name="name"/>: lower case, <c>_</c> read as <c>-</c>.
    /// Two names with the same form reach such an application as one header.
    /// </summary>
    public static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Replace('_', '-').ToLowerInvariant();
    }
}
