using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Gateway.Verification;
using Microsoft.Extensions.Options;

namespace Gateway.Signing;

/// <summary>
/// Computes <c>X-Gateway-Signature</c>: HMAC-SHA256 over the request line and the identity headers the upstream
/// receives, so an upstream reachable by others can tell the gateway's requests from forgeries. Version 1 uses
/// the shared secret; version 2 a key per cluster derived from it, and also covers host, cluster, a nonce and
/// the body. Both canonical strings are <see cref="GatewaySignature"/>'s, the ones the verifiers rebuild.
/// </summary>
internal sealed class IdentitySigner(IOptionsMonitor<SigningOptions> options, TimeProvider time)
{
    public const string HeaderName = GatewaySignature.HeaderName;

    private SigningState? _state;

    public bool Enabled => options.CurrentValue.Secrets.Count > 0;

    /// <returns>The signing settings in force, or null when no secret is configured.</returns>
    public SigningState? Current()
    {
        var signing = options.CurrentValue;
        if (signing.Secrets.Count == 0)
        {
            return null;
        }

        // Rebuilt only when the configuration reloads (a reload binds new options).
        var state = _state;
        if (state is null || !ReferenceEquals(state.Source, signing))
        {
            state = new SigningState(signing);
            _state = state;
        }

        return state;
    }

    /// <summary>The header value for a request; <paramref name="v2"/> is null when version 2 is off.</summary>
    public string Sign(SigningState state, string method, string pathAndQuery, Func<string, string?> header, V2Request? v2)
    {
        var t = time.GetUtcNow().ToUnixTimeSeconds();
        var value = new StringBuilder(200).Append("t=").Append(t).Append(",kid=").Append(state.Id);
        if (v2 is not null)
        {
            value.Append(",n=").Append(v2.Value.Nonce);
        }

        if (state.V1)
        {
            var canonical = GatewaySignature.CanonicalString(t, method, pathAndQuery, header);
            value.Append(",v1=").Append(Convert.ToHexStringLower(HMACSHA256.HashData(state.Secret, Encoding.UTF8.GetBytes(canonical))));
        }

        if (v2 is { } r)
        {
            var canonical = GatewaySignature.CanonicalStringV2(t, r.Nonce, method, r.Host, r.ClusterId, pathAndQuery, header, r.Content);
            value.Append(",v2=").Append(GatewaySignature.ComputeV2(state.ClusterKey(r.ClusterId), canonical));
        }

        return value.ToString();
    }

    /// <summary>128 random bits, base64url: no ',' or '=' to clash with the header's syntax.</summary>
    public static string NewNonce()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Parses <c>Gateway:Signing:Versions</c>: <c>v1</c>, <c>v2</c> or both, comma-separated.</summary>
    public static bool TryParseVersions(string? versions, out bool v1, out bool v2)
    {
        v1 = v2 = false;
        if (string.IsNullOrWhiteSpace(versions))
        {
            return false;
        }

        foreach (var part in versions.Split(',', StringSplitOptions.TrimEntries))
        {
            switch (part.ToLowerInvariant())
            {
                case "v1" when !v1:
                    v1 = true;
                    break;
                case "v2" when !v2:
                    v2 = true;
                    break;
                default:
                    return false;
            }
        }

        return true;
    }
}

/// <summary>What version 2 covers besides version 1's lines.</summary>
internal readonly record struct V2Request(string Nonce, string Host, string ClusterId, string Content);

/// <summary>The signing settings of one configuration, with the per-cluster keys derived from them so far.</summary>
internal sealed class SigningState
{
    private readonly string _secretText;
    private readonly ConcurrentDictionary<string, byte[]> _clusterKeys = new(StringComparer.Ordinal);

    public SigningState(SigningOptions source)
    {
        Source = source;
        Id = source.Secrets[0].Id;
        _secretText = source.Secrets[0].Secret;
        Secret = Encoding.UTF8.GetBytes(_secretText);
        // Validated at start; should a reload bring a bad value, the contract's version 1 goes on being sent.
        var known = IdentitySigner.TryParseVersions(source.Versions, out var v1, out var v2);
        V1 = v1 || !known;
        V2 = v2 && known;
        MaxDigestBytes = source.MaxDigestBytes;
    }

    public SigningOptions Source { get; }

    public string Id { get; }

    public byte[] Secret { get; }

    public bool V1 { get; }

    public bool V2 { get; }

    public long MaxDigestBytes { get; }

    // Cluster ids come from the proxy configuration, so this holds one entry per configured cluster at most.
    public byte[] ClusterKey(string clusterId) =>
        _clusterKeys.GetOrAdd(clusterId, static (id, secret) => GatewaySignature.DeriveClusterKey(secret, id), _secretText);
}
