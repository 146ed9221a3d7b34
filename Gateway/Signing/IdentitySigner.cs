using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
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
        string? v1 = null;
        if (state.V1)
        {
            v1 = ThreadHmac.HexDigest(state.Secret, GatewaySignature.CanonicalString(t, method, pathAndQuery, header));
        }

        if (v2 is not { } r)
        {
            return string.Create(CultureInfo.InvariantCulture, stackalloc char[160], $"t={t},kid={state.Id},v1={v1}");
        }

        var canonical = GatewaySignature.CanonicalStringV2(t, r.Nonce, method, r.Host, r.ClusterId, pathAndQuery, header, r.Content);
        var mac = ThreadHmac.HexDigest(state.ClusterKey(r.ClusterId), canonical);
        return v1 is null
            ? string.Create(CultureInfo.InvariantCulture, stackalloc char[200], $"t={t},kid={state.Id},n={r.Nonce},v2={mac}")
            : string.Create(CultureInfo.InvariantCulture, stackalloc char[260], $"t={t},kid={state.Id},n={r.Nonce},v1={v1},v2={mac}");
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

/// <summary>
/// HMAC-SHA256 with one keyed instance per thread and key, the same MAC as <see cref="GatewaySignature"/>'s
/// one-shot methods: on Linux each one-shot call fetches the algorithm from OpenSSL's provider tables and sets
/// the key up again, which measured several times the cost of the MAC itself on every signed request.
/// </summary>
internal static class ThreadHmac
{
    /// <summary>
    /// Keys a thread keeps instances for: the secret and a few clusters' keys, so that "v1,v2", which signs each
    /// request under two keys, does not set a key up twice per request. Keys are the signing state's arrays,
    /// replaced only by a configuration reload; past the bound a thread starts afresh, dropping old states' keys.
    /// </summary>
    private const int MaxKeysPerThread = 16;

    [ThreadStatic]
    private static Dictionary<byte[], IncrementalHash>? t_hmacs;

    public static string HexDigest(byte[] key, string text)
    {
        var hmacs = t_hmacs ??= new Dictionary<byte[], IncrementalHash>(ReferenceEqualityComparer.Instance);
        if (!hmacs.TryGetValue(key, out var hmac))
        {
            if (hmacs.Count >= MaxKeysPerThread)
            {
                foreach (var old in hmacs.Values)
                {
                    old.Dispose();
                }

                hmacs.Clear();
            }

            hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
            hmacs.Add(key, hmac);
        }

        var length = Encoding.UTF8.GetMaxByteCount(text.Length);
        var rented = length <= 1024 ? null : System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        Span<byte> buffer = rented ?? stackalloc byte[1024];
        try
        {
            hmac.AppendData(buffer[..Encoding.UTF8.GetBytes(text, buffer)]);
            Span<byte> mac = stackalloc byte[32];
            hmac.GetHashAndReset(mac);
            return Convert.ToHexStringLower(mac);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
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
